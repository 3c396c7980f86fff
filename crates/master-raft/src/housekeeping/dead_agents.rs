//! Helios's DeadAgentReaper: a host whose agent has been DOWN for `--agent-reaping-timeout`
//! is deregistered, as with `DELETE /hosts/{host}` (its deployments, static-port
//! reservations, task statuses and history go with it).
//!
//! "DOWN since" is the leader's own observation, kept in memory ([`DownClock`]): the
//! replicated `up` flag must be false *and* the dispatcher must not have heard from the
//! agent within the DOWN timeout. A new leader forgets everything and starts judging only
//! after the same grace period the liveness checker gives agents to find it
//! ([`crate::dispatcher::liveness::leader_grace`]), so a host is reaped only after this
//! leader itself saw it DOWN for the whole timeout. A host that comes back UP, even briefly
//! between two checks (its `status_changed_ms` moves), starts over. As in Helios, a host that
//! never ran an agent (registered with `PUT /hosts` only, no agent info) is never reaped.
//!
//! The check runs every `min(30 min, timeout / 4)`, at least every second, so a host goes at
//! most a quarter of the timeout late. At most one host is deregistered per [`SPACING`], as
//! in Helios: a fleet that vanished at once (a partition, a data-centre outage) is removed
//! gradually, leaving operators time to notice and raise the timeout.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::pause;
use crate::dispatcher::liveness::{down_after, leader_grace};
use crate::dispatcher::{Dispatcher, Liveness};
use crate::raft::tenure::Tenure;
use crate::state::{Command, CommandResult, State};

/// The least time between two deregistrations (Helios: one host per 5 s).
pub const SPACING: Duration = Duration::from_secs(5);

/// The longest time between two checks (Helios's period).
pub const MAX_CHECK_PERIOD: Duration = Duration::from_secs(30 * 60);

/// The shortest time between two checks.
pub const MIN_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// How often the leader checks hosts for a reaping timeout: a quarter of it, between
/// [`MIN_CHECK_PERIOD`] and [`MAX_CHECK_PERIOD`].
pub fn check_period(timeout: Duration) -> Duration {
    (timeout / 4).clamp(MIN_CHECK_PERIOD, MAX_CHECK_PERIOD)
}

/// What the reaper needs to know of one host at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostView {
    /// Host name.
    pub name: String,
    /// DOWN in the replicated state and not heard from lately by this leader.
    pub down: bool,
    /// When the host last went UP or DOWN (replicated, leader clock in epoch ms); a change
    /// means the host was UP again in between.
    pub status_changed_ms: i64,
    /// Whether an agent ever ran for it (it has agent info).
    pub had_agent: bool,
}

/// The hosts of `state` as the reaper sees them at `now`: DOWN means `up` is false in the
/// state and the dispatcher's table `live` shows no message within `down_after`.
pub fn host_views(
    state: &State,
    live: &HashMap<String, Liveness>,
    now: Instant,
    down_after: Duration,
) -> Vec<HostView> {
    state
        .hosts
        .iter()
        .map(|(name, host)| {
            let heard_lately = live
                .get(name)
                .is_some_and(|l| now.saturating_duration_since(l.last_seen) <= down_after);
            HostView {
                name: name.clone(),
                down: !host.up && !heard_lately,
                status_changed_ms: host.status_changed_ms,
                had_agent: host.agent_info.is_some(),
            }
        })
        .collect()
}

/// When this leader first saw each host DOWN (in memory; empty on a new leader).
#[derive(Debug, Default)]
pub struct DownClock {
    /// Host → (`status_changed_ms` when first seen DOWN, when first seen DOWN).
    since: HashMap<String, (i64, Instant)>,
}

impl DownClock {
    /// Forgets every observation (this member does not lead, or may not judge yet).
    pub fn forget_all(&mut self) {
        self.since.clear();
    }

    /// How long the host has been seen DOWN, if it is.
    pub fn down_for(&self, host: &str, now: Instant) -> Option<Duration> {
        self.since
            .get(host)
            .map(|(_, since)| now.saturating_duration_since(*since))
    }

    /// Records what the hosts look like at `now` and returns those seen DOWN for at least
    /// `timeout`, the longest DOWN first (then by name). Hosts UP, gone, or without an agent
    /// are forgotten.
    pub fn overdue(&mut self, hosts: &[HostView], now: Instant, timeout: Duration) -> Vec<String> {
        let mut since = HashMap::with_capacity(hosts.len());
        for h in hosts.iter().filter(|h| h.down && h.had_agent) {
            let first = match self.since.get(&h.name) {
                Some((changed, first)) if *changed == h.status_changed_ms => *first,
                _ => now,
            };
            since.insert(h.name.clone(), (h.status_changed_ms, first));
        }
        self.since = since;
        let mut overdue: Vec<(Instant, &String)> = self
            .since
            .iter()
            .filter(|(_, (_, first))| now.saturating_duration_since(*first) >= timeout)
            .map(|(name, (_, first))| (*first, name))
            .collect();
        overdue.sort();
        overdue.into_iter().map(|(_, name)| name.clone()).collect()
    }
}

/// Runs until `stop` flips: on the leader, after its grace period, deregisters hosts DOWN
/// for `timeout`, one per [`SPACING`] at most.
pub async fn run(
    dispatcher: Dispatcher,
    timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let app = dispatcher.app().clone();
    let period = check_period(timeout);
    let grace = leader_grace(dispatcher.heartbeat_ms());
    let down_after = down_after(dispatcher.heartbeat_ms());
    let mut tenure = Tenure::default();
    let mut clock = DownClock::default();
    let mut wait = period;
    let mut last_reap: Option<Instant> = None;
    info!(timeout = %humantime::format_duration(timeout), "dead-agent reaper enabled");
    while pause(wait, &mut stop).await {
        wait = period;
        let now = Instant::now();
        match tenure.leading_since(&app.raft, app.id, now) {
            Some(since) if now.duration_since(since) >= grace => {}
            _ => {
                clock.forget_all();
                continue;
            }
        }
        let live = dispatcher.live();
        let Ok(views) = app.read_local(|s| host_views(s, &live, now, down_after)) else {
            continue;
        };
        let overdue = clock.overdue(&views, now, timeout);
        let Some(host) = overdue.first() else {
            continue;
        };
        if let Some(last) = last_reap
            && now.duration_since(last) < SPACING
        {
            wait = SPACING - now.duration_since(last);
            continue;
        }
        last_reap = Some(now);
        let down_for = clock.down_for(host, now).unwrap_or_default();
        let down_for = humantime::format_duration(Duration::from_secs(down_for.as_secs()));
        info!(%host, %down_for, "reaping dead agent: deregistering its host");
        let down_since_ms = views
            .iter()
            .find(|v| &v.name == host)
            .map_or(0, |v| v.status_changed_ms);
        let deregister = Command::DeregisterDeadHost {
            name: host.clone(),
            down_since_ms,
            now_ms: app.clock.now_ms(),
        };
        match app.write(deregister).await {
            Ok(CommandResult::Ok) => info!(%host, "dead agent's host deregistered"),
            Ok(CommandResult::HostNotDown) => {
                info!(%host, "dead agent came back before its host was deregistered; kept")
            }
            Ok(other) => debug!(%host, "dead agent's host already gone: {other:?}"),
            Err(e) => warn!(%host, "deregistering dead agent's host: {}", e),
        }
        if overdue.len() > 1 {
            wait = SPACING;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use helios_api::AgentInfo;

    use super::*;
    use crate::state::Host;

    fn view(name: &str, down: bool, changed: i64) -> HostView {
        HostView {
            name: name.into(),
            down,
            status_changed_ms: changed,
            had_agent: true,
        }
    }

    const T: Duration = Duration::from_secs(60);

    #[test]
    fn check_period_is_a_quarter_within_bounds() {
        assert_eq!(check_period(Duration::from_secs(3)), MIN_CHECK_PERIOD);
        assert_eq!(
            check_period(Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        assert_eq!(
            check_period(Duration::from_secs(336 * 3600)),
            MAX_CHECK_PERIOD
        );
    }

    #[test]
    fn overdue_only_after_seen_down_for_the_whole_timeout() {
        let t0 = Instant::now();
        let mut clock = DownClock::default();
        let hosts = [view("a", true, 5), view("b", false, 5)];
        assert!(
            clock.overdue(&hosts, t0, T).is_empty(),
            "first sight starts the clock"
        );
        assert!(clock.overdue(&hosts, t0 + T / 2, T).is_empty());
        assert_eq!(clock.down_for("a", t0 + T / 2), Some(T / 2));
        assert_eq!(clock.down_for("b", t0 + T / 2), None);
        assert_eq!(clock.overdue(&hosts, t0 + T, T), ["a"]);
    }

    #[test]
    fn up_again_even_between_checks_starts_over() {
        let t0 = Instant::now();
        let mut clock = DownClock::default();
        clock.overdue(&[view("a", true, 5), view("b", true, 5)], t0, T);
        // a was UP at the next check; b went UP and DOWN again in between.
        clock.overdue(&[view("a", false, 9), view("b", true, 9)], t0 + T / 2, T);
        let later = [view("a", true, 12), view("b", true, 9)];
        assert!(clock.overdue(&later, t0 + T, T).is_empty());
        assert_eq!(clock.overdue(&later, t0 + T * 3 / 2, T), ["b"]);
        assert_eq!(
            clock.overdue(&later, t0 + T * 2, T),
            ["b", "a"],
            "longest first"
        );
    }

    #[test]
    fn a_new_leader_starts_from_nothing() {
        let t0 = Instant::now();
        let mut clock = DownClock::default();
        let hosts = [view("a", true, 5)];
        clock.overdue(&hosts, t0, T);
        clock.forget_all();
        assert!(clock.overdue(&hosts, t0 + T * 10, T).is_empty());
        assert_eq!(clock.overdue(&hosts, t0 + T * 11, T), ["a"]);
    }

    #[test]
    fn hosts_without_an_agent_and_deregistered_hosts_are_never_overdue() {
        let t0 = Instant::now();
        let mut clock = DownClock::default();
        let mut never = view("never", true, 5);
        never.had_agent = false;
        clock.overdue(&[never.clone(), view("gone", true, 5)], t0, T);
        // "gone" was deregistered meanwhile.
        assert!(clock.overdue(&[never], t0 + T * 2, T).is_empty());
        assert_eq!(clock.down_for("gone", t0 + T * 2), None);
    }

    fn host(up: bool, agent: bool) -> Host {
        Host {
            id: "id".into(),
            labels: BTreeMap::new(),
            env: BTreeMap::new(),
            host_info: None,
            agent_info: agent.then(AgentInfo::default),
            up,
            status_changed_ms: 7,
            create_index: 1,
            modify_index: 1,
            address: None,
        }
    }

    #[test]
    fn down_needs_the_state_and_the_dispatcher_to_agree() {
        let now = Instant::now();
        let after = Duration::from_secs(3);
        let mut s = State::default();
        s.hosts.insert("up".into(), host(true, true));
        s.hosts.insert("silent".into(), host(false, true));
        s.hosts.insert("heard".into(), host(false, true));
        s.hosts.insert("stale".into(), host(false, true));
        s.hosts.insert("registered".into(), host(false, false));
        let seen = |ago: Duration| Liveness {
            agent_id: "id".into(),
            last_seen: now - ago,
            session: 1,
        };
        let live = HashMap::from([
            ("heard".to_string(), seen(Duration::from_secs(1))),
            ("stale".to_string(), seen(Duration::from_secs(10))),
        ]);
        let views = host_views(&s, &live, now, after);
        let down: Vec<&str> = views
            .iter()
            .filter(|v| v.down)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(down, ["registered", "silent", "stale"]);
        let registered = views.iter().find(|v| v.name == "registered").unwrap();
        assert!(!registered.had_agent);
        assert_eq!(registered.status_changed_ms, 7);
    }
}
