//! The supervisor's decision, as one pure function: given the goal, what the supervisor has
//! observed and the time, what it does next. All waiting and Docker calls live in
//! `supervisor/mod.rs`; this module has no I/O and no clock.

use std::time::Instant;

use helios_api::Goal;

/// What a supervisor knows about its job's container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The job's container id if one is known to be running.
    pub running: Option<String>,
    /// The job's last container (running or not).
    pub container_id: Option<String>,
    /// No new container life before this instant (restart policy).
    pub not_before: Option<Instant>,
    /// The container has been stopped for the current STOP/UNDEPLOY goal.
    pub stopped: bool,
}

/// The supervisor's next move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a container life: adopt the recorded container if it runs, else pull, create
    /// and start a new one.
    Run,
    /// The container runs: wait for it to exit or for the goal to change.
    Watch(String),
    /// Wait until then (restart delay), unless the goal changes.
    Delay(Instant),
    /// Stop the container (if any) and report STOPPING then STOPPED.
    Stop(Option<String>),
    /// Nothing to do until the goal changes.
    Idle,
    /// UNDEPLOY is done: the supervisor ends and the task is forgotten.
    Release,
}

/// Decides the next action.
pub fn step(goal: Goal, observed: &Observed, now: Instant) -> Action {
    match goal {
        Goal::Start => match (&observed.running, observed.not_before) {
            (Some(id), _) => Action::Watch(id.clone()),
            (None, Some(t)) if t > now => Action::Delay(t),
            (None, _) => Action::Run,
        },
        Goal::Stop | Goal::Undeploy if !observed.stopped => Action::Stop(
            observed
                .running
                .clone()
                .or_else(|| observed.container_id.clone()),
        ),
        Goal::Stop => Action::Idle,
        Goal::Undeploy => Action::Release,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(goal: Goal, observed: Observed, expect: Action) {
        let now = Instant::now();
        let observed = Observed {
            not_before: observed.not_before.map(|_| now + Duration::from_secs(1)),
            ..observed
        };
        let expect = match expect {
            Action::Delay(_) => Action::Delay(now + Duration::from_secs(1)),
            other => other,
        };
        assert_eq!(step(goal, &observed, now), expect, "{goal:?} {observed:?}");
    }

    fn running(id: &str) -> Observed {
        Observed {
            running: Some(id.into()),
            container_id: Some(id.into()),
            ..Observed::default()
        }
    }

    fn exited(id: &str, delayed: bool) -> Observed {
        Observed {
            container_id: Some(id.into()),
            not_before: delayed.then(Instant::now),
            ..Observed::default()
        }
    }

    #[test]
    fn table() {
        let later = Action::Delay(Instant::now());
        check(Goal::Start, Observed::default(), Action::Run);
        check(Goal::Start, running("c"), Action::Watch("c".into()));
        check(Goal::Start, exited("c", true), later);
        check(Goal::Start, exited("c", false), Action::Run);
        check(Goal::Stop, running("c"), Action::Stop(Some("c".into())));
        check(
            Goal::Stop,
            exited("c", true),
            Action::Stop(Some("c".into())),
        );
        check(Goal::Undeploy, Observed::default(), Action::Stop(None));
        let stopped = Observed {
            stopped: true,
            ..exited("c", false)
        };
        check(Goal::Stop, stopped.clone(), Action::Idle);
        check(Goal::Undeploy, stopped.clone(), Action::Release);
        check(Goal::Start, stopped, Action::Run);
    }

    #[test]
    fn a_past_deadline_runs_at_once() {
        let now = Instant::now();
        let observed = Observed {
            not_before: Some(now),
            ..Observed::default()
        };
        assert_eq!(step(Goal::Start, &observed, now), Action::Run);
    }
}
