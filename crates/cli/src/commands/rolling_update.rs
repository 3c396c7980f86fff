//! `helios rolling-update JOB GROUP`: rolls a job out onto a deployment group
//! (`POST /deployment-group/{group}/rolling-update`) and, unless `--async`, follows the
//! rollout (`GET /deployment-group/{group}/status`) until the group is ACTIVE or FAILED, or
//! `-T` minutes passed; the rollout itself goes on whatever the command does.
//!
//! JOB is a wildcard job reference ([`job_ref`]). `-t`, `-p` and `-T` must be above 0, checked
//! before anything is sent. The request carries the options given on the command line; the
//! others are sent unset (`null`), so that the master takes them from the job, else from
//! Helios's defaults. A status other than `OK` prints
//! `Failed: RollingUpdateResponse{status=…}` (exit 1).
//!
//! The output is Helios's: `Rolling update[ (async)] started: <group> -> <job> (…)` with the
//! options in effect ([`RolloutOptions::cli_effective`]), then, while waiting, a line
//! `<host> -> RUNNING (i/N)` the first time each host of the group runs the new job, and at
//! the end `Done.`, `Failed: <error>` or `Timed out! (rolling-update still in progress)` and
//! `Duration: %.2f s`. The wait fails when the group's job changes under it (another rolling
//! update superseded this one) or the group disappears. With `--json` only one object is
//! printed, a [`RollingUpdateCliOutput`] (or the master's answer when the request failed).
//! Exit 0 when done (or started, with `--async`), else 1.
//!
//! Beyond Helios: on a terminal, a table of the group's hosts (job, state, and how long each
//! has been so) and a bar of the hosts done are redrawn in place below those lines while the
//! command waits. Helios polls every second; this polls every quarter second.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use helios_api::{
    DeploymentGroupStatusResponse, DeploymentGroupStatusResponseStatus, JobId,
    RollingUpdateCliOutput, RollingUpdateCliStatus, RollingUpdateRequest, RollingUpdateStatus,
    RolloutOptions, State,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Context;
use super::job_ref::{self, JobMatch};
use crate::args::RollingUpdateArgs;
use crate::client::HeliosClient;
use crate::output::deployment_group::{self, RolloutRow};
use crate::output::hosts::java_fixed;
use crate::output::json;
use crate::output::responses::{enum_name, rolling_update_response};

/// What the wait ends with when the group's job is no longer the one rolled out.
pub const JOB_CHANGED: &str = "Deployment-group job id changed during rolling-update";
/// What the wait ends with when the group's status cannot be read (the group was removed).
pub const STATUS_MISSING: &str = "Failed to fetch deployment-group status";

/// How often the command reads the group's status and how long its `-T` minute is. Only
/// tests change them, to wait less.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Pause between two reads of the group's status.
    pub poll: Duration,
    /// The unit of `-T/--rollout-timeout`.
    pub minute: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            poll: Duration::from_millis(250),
            minute: Duration::from_secs(60),
        }
    }
}

/// Runs the command.
pub async fn run(
    args: &RollingUpdateArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    run_paced(args, client, ctx, Pacing::default()).await
}

/// Runs the command, waiting at the pace given.
pub async fn run_paced(
    args: &RollingUpdateArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
    pacing: Pacing,
) -> anyhow::Result<i32> {
    check(args)?;
    let found = job_ref::find(client, &args.job).await?;
    let JobMatch::Found(id, job) = found else {
        job_ref::print_unresolved(ctx, &args.job, &found)?;
        return Ok(1);
    };
    let started = Instant::now();
    let requested = requested_options(args);
    let body = RollingUpdateRequest {
        job: id.clone(),
        rollout_options: Some(requested.clone()),
    };
    let response = client.rolling_update(&args.group, &body).await?;
    if response.status != RollingUpdateStatus::Ok {
        if ctx.json {
            writeln!(ctx.out, "{}", json::compact(&json::to_value(&response)))?;
        } else {
            writeln!(ctx.out, "Failed: {}", rolling_update_response(&response))?;
        }
        return Ok(1);
    }
    // The job's own options are the ones the lookup found: jobs never change.
    let effective = RolloutOptions::cli_effective(&requested, job.rollout_options.as_ref());
    if !ctx.json {
        let line = deployment_group::rolling_update_started(
            &args.group,
            &id,
            &effective,
            args.asynchronous,
        );
        writeln!(ctx.out, "{line}")?;
    }
    if args.asynchronous {
        if ctx.json {
            let output = RollingUpdateCliOutput::new(&effective, RollingUpdateCliStatus::Ok);
            writeln!(ctx.out, "{}", json::compact(&json::to_value(&output)))?;
        }
        return Ok(0);
    }
    let display = if ctx.json {
        Display::Quiet
    } else {
        writeln!(ctx.out)?;
        ctx.out.flush()?;
        if ctx.terminal {
            Display::Live(Live::new(ProgressDrawTarget::stdout()))
        } else {
            Display::Lines
        }
    };
    let minutes = u32::try_from(args.rollout_timeout).unwrap_or(u32::MAX);
    let deadline = started.checked_add(pacing.minute.saturating_mul(minutes));
    let mut progress = Progress::new(id, display);
    let outcome = follow(
        client,
        ctx,
        &args.group,
        &mut progress,
        deadline,
        pacing.poll,
    )
    .await;
    progress.finish(ctx)?;
    let outcome = outcome?;
    print_outcome(ctx, &effective, &outcome, started.elapsed())?;
    Ok(if outcome == Outcome::Done { 0 } else { 1 })
}

/// Helios's checks of the numbers, made before anything is sent; each message names its flag.
fn check(args: &RollingUpdateArgs) -> anyhow::Result<()> {
    if args.timeout.is_some_and(|t| t <= 0) {
        anyhow::bail!("Timeout must be greater than 0 (-t/--timeout)");
    }
    if args.parallelism.is_some_and(|p| p <= 0) {
        anyhow::bail!("Parallelism must be greater than 0 (-p/--par)");
    }
    if args.rollout_timeout <= 0 {
        anyhow::bail!("Rollout timeout must be greater than 0 (-T/--rollout-timeout)");
    }
    Ok(())
}

/// The options given on the command line; the others stay unset, for the master to take from
/// the job, else from the defaults. A flag that is off is unset, not `false`, as in Helios.
fn requested_options(args: &RollingUpdateArgs) -> RolloutOptions {
    RolloutOptions {
        ignore_failures: args.ignore_failures.then_some(true),
        migrate: args.migrate.then_some(true),
        overlap: args.overlap.then_some(true),
        parallelism: args.parallelism,
        timeout: args.timeout,
        token: args.token.clone(),
    }
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The group is no longer rolling out and did not fail (ACTIVE).
    Done,
    /// The rollout failed, or the wait could not go on; the error to print.
    Failed(String),
    /// `-T` passed while the group was still rolling out.
    TimedOut,
}

/// Reads the group's status every `poll` until the rollout of `progress`'s job ends, the
/// group's job changes, or `deadline` passes, showing the progress after each read.
async fn follow(
    client: &HeliosClient,
    ctx: &mut Context<'_>,
    group: &str,
    progress: &mut Progress,
    deadline: Option<Instant>,
    poll: Duration,
) -> anyhow::Result<Outcome> {
    loop {
        let Some(status) = client.deployment_group_status(group).await? else {
            return Ok(Outcome::Failed(STATUS_MISSING.to_string()));
        };
        if status.deployment_group.job_id.as_ref() != Some(&progress.job) {
            return Ok(Outcome::Failed(JOB_CHANGED.to_string()));
        }
        progress.update(ctx, &status)?;
        match status.status {
            DeploymentGroupStatusResponseStatus::RollingOut => {}
            DeploymentGroupStatusResponseStatus::Failed => {
                return Ok(Outcome::Failed(status.error.unwrap_or_default()));
            }
            _ => return Ok(Outcome::Done),
        }
        if deadline.is_some_and(|deadline| Instant::now() > deadline) {
            return Ok(Outcome::TimedOut);
        }
        tokio::time::sleep(poll).await;
    }
}

/// The end of the output: with `--json` the [`RollingUpdateCliOutput`], else a blank line,
/// the outcome and the duration.
fn print_outcome(
    ctx: &mut Context<'_>,
    effective: &RolloutOptions,
    outcome: &Outcome,
    elapsed: Duration,
) -> std::io::Result<()> {
    // Helios's milliseconds divided by 1000.
    let seconds = elapsed.as_millis() as f64 / 1000.0;
    if ctx.json {
        let (status, error) = match outcome {
            Outcome::Done => (RollingUpdateCliStatus::Done, None),
            Outcome::Failed(error) => (RollingUpdateCliStatus::Failed, Some(error.clone())),
            Outcome::TimedOut => (RollingUpdateCliStatus::Timeout, None),
        };
        let output = RollingUpdateCliOutput {
            duration: Some(seconds),
            error,
            ..RollingUpdateCliOutput::new(effective, status)
        };
        return writeln!(ctx.out, "{}", json::compact(&json::to_value(&output)));
    }
    writeln!(ctx.out)?;
    match outcome {
        Outcome::Done => writeln!(ctx.out, "Done.")?,
        Outcome::Failed(error) => writeln!(ctx.out, "Failed: {error}")?,
        Outcome::TimedOut => writeln!(ctx.out, "Timed out! (rolling-update still in progress)")?,
    }
    writeln!(ctx.out, "Duration: {} s", java_fixed(seconds, 2))
}

/// How the wait shows its progress.
enum Display {
    /// Nothing (`--json`).
    Quiet,
    /// Helios's lines.
    Lines,
    /// Helios's lines, and a table redrawn in place below them.
    Live(Live),
}

/// The progress of a rollout as the command saw it.
struct Progress {
    /// The job rolled out.
    job: JobId,
    /// The hosts already reported running it: each is reported once, as in Helios.
    reported: HashSet<String>,
    /// How it is shown.
    display: Display,
}

impl Progress {
    fn new(job: JobId, display: Display) -> Progress {
        Progress {
            job,
            reported: HashSet::new(),
            display,
        }
    }

    /// Shows a read of the group's status: `<host> -> RUNNING (i/N)` for each host that runs
    /// the job for the first time, `i` counting them and `N` the group's hosts now, and on a
    /// terminal the redrawn table.
    fn update(
        &mut self,
        ctx: &mut Context<'_>,
        status: &DeploymentGroupStatusResponse,
    ) -> std::io::Result<()> {
        if matches!(self.display, Display::Quiet) {
            return Ok(());
        }
        let total = status.host_statuses.len();
        let mut lines = Vec::new();
        for host in &status.host_statuses {
            let running =
                host.job_id.as_ref() == Some(&self.job) && host.state == Some(State::Running);
            if running && self.reported.insert(host.host.clone()) {
                lines.push(deployment_group::host_running(
                    &host.host,
                    self.reported.len(),
                    total,
                ));
            }
        }
        match &mut self.display {
            Display::Quiet => Ok(()),
            Display::Lines => print_lines(ctx, &lines),
            Display::Live(live) => {
                // The bar steps aside while the lines are printed above it.
                live.bar.suspend(|| print_lines(ctx, &lines))?;
                live.show(&self.job, status, self.reported.len());
                Ok(())
            }
        }
    }

    /// Leaves the last table drawn, and the cursor on the line after it, so that the final
    /// lines follow it as they follow Helios's lines.
    fn finish(&self, ctx: &mut Context<'_>) -> std::io::Result<()> {
        if let Display::Live(live) = &self.display {
            live.bar.abandon();
            // indicatif leaves the cursor at the end of the bar's line.
            writeln!(ctx.out)?;
        }
        Ok(())
    }
}

fn print_lines(ctx: &mut Context<'_>, lines: &[String]) -> std::io::Result<()> {
    for line in lines {
        writeln!(ctx.out, "{line}")?;
    }
    ctx.out.flush()
}

/// What the live display draws: the table of hosts, then a spinner, the group's status, a bar
/// of the hosts running the job and the time spent.
const LIVE_TEMPLATE: &str =
    "{msg}\n{spinner} {prefix} [{bar:30}] {pos}/{len} hosts running the job ({elapsed})";

/// The table of hosts and the bar, redrawn in place on a terminal.
struct Live {
    /// indicatif's bar: the message is the table, the position the hosts done.
    bar: ProgressBar,
    /// Each host's job and state, and when the command first saw it with them.
    seen: HashMap<String, (Option<JobId>, Option<State>, Instant)>,
}

impl Live {
    fn new(target: ProgressDrawTarget) -> Live {
        let style = ProgressStyle::with_template(LIVE_TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        Live {
            bar: ProgressBar::with_draw_target(Some(0), target).with_style(style),
            seen: HashMap::new(),
        }
    }

    /// Redraws the table for a read of the group's status, with `done` hosts running `job`.
    fn show(&mut self, job: &JobId, status: &DeploymentGroupStatusResponse, done: usize) {
        let now = Instant::now();
        let mut rows = Vec::with_capacity(status.host_statuses.len());
        for host in &status.host_statuses {
            let seen = self
                .seen
                .entry(host.host.clone())
                .or_insert_with(|| (host.job_id.clone(), host.state, now));
            if (seen.0.as_ref(), seen.1) != (host.job_id.as_ref(), host.state) {
                *seen = (host.job_id.clone(), host.state, now);
            }
            rows.push(RolloutRow {
                status: host,
                since: now.duration_since(seen.2),
            });
        }
        self.bar.set_prefix(enum_name(&status.status));
        self.bar.set_length(status.host_statuses.len() as u64);
        self.bar.set_position(done as u64);
        self.bar
            .set_message(deployment_group::rollout_table(job, &rows));
        self.bar.tick();
        // Each setter above may draw, and the terminal's rate limit may drop the later ones:
        // the frame left on screen until the next read must be the whole new state.
        self.bar.force_draw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;
    use serde_json::json;

    const HASH: &str = "3f5c6e4aef30e1ab68931dbd66a83226410b87e9";

    fn job() -> JobId {
        JobId::full("foo", "2", HASH)
    }

    /// A status of group `g` rolling out `foo:2`, with `hosts` as (host, job version, state).
    fn status(hosts: &[(&str, Option<&str>, Option<&str>)]) -> DeploymentGroupStatusResponse {
        let host_statuses: Vec<serde_json::Value> = hosts
            .iter()
            .map(|(host, version, state)| {
                json!({"host": host, "jobId": version.map(|v| format!("foo:{v}:{HASH}")),
                       "state": state})
            })
            .collect();
        serde_json::from_value(json!({
            "deploymentGroup": {"name": "g", "jobId": job().to_string()},
            "hostStatuses": host_statuses,
            "status": "ROLLING_OUT"
        }))
        .expect("status")
    }

    fn shown(display: Display, rounds: &[DeploymentGroupStatusResponse]) -> String {
        let mut out = Vec::new();
        let mut stdin = &b""[..];
        let mut ctx = Context {
            out: &mut out,
            stdin: &mut stdin,
            json: false,
            terminal: false,
        };
        let mut progress = Progress::new(job(), display);
        for round in rounds {
            progress.update(&mut ctx, round).expect("update");
        }
        progress.finish(&mut ctx).expect("finish");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn each_host_is_reported_once_when_it_runs_the_new_job() {
        let rounds = [
            status(&[("h1", Some("1"), Some("RUNNING")), ("h2", None, None)]),
            status(&[
                ("h1", Some("2"), Some("PULLING_IMAGE")),
                ("h2", Some("2"), Some("RUNNING")),
            ]),
            status(&[
                ("h1", Some("2"), Some("RUNNING")),
                ("h2", Some("2"), Some("RUNNING")),
            ]),
            // A host that restarts is not reported again.
            status(&[
                ("h1", Some("2"), Some("STARTING")),
                ("h2", Some("2"), Some("RUNNING")),
            ]),
        ];
        assert_eq!(
            shown(Display::Lines, &rounds),
            "h2 -> RUNNING (1/2)\nh1 -> RUNNING (2/2)\n"
        );
        assert_eq!(shown(Display::Quiet, &rounds), "");
    }

    #[test]
    fn a_terminal_gets_the_lines_and_a_table_redrawn_in_place() {
        let term = InMemoryTerm::new(20, 100);
        let live = Live::new(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let rounds = [
            status(&[("h1", Some("1"), Some("RUNNING")), ("h2", None, None)]),
            status(&[
                ("h1", Some("2"), Some("RUNNING")),
                ("h2", Some("2"), Some("PULLING_IMAGE")),
            ]),
        ];
        // The lines go to the command's output as without a terminal; at the end a line
        // break ends the bar's line (on a terminal, the two share the screen).
        assert_eq!(
            shown(Display::Live(live), &rounds),
            "h1 -> RUNNING (1/2)\n\n"
        );
        let screen = term.contents();
        let lines: Vec<&str> = screen.lines().collect();
        // Only the last table is on the screen: the first was drawn over.
        assert_eq!(
            &lines[..3],
            [
                "HOST    UP-TO-DATE    JOB              STATE            SINCE",
                "h1      X             foo:2:3f5c6e4    RUNNING          0 seconds",
                "h2      X             foo:2:3f5c6e4    PULLING_IMAGE    0 seconds",
            ],
            "{screen}"
        );
        assert_eq!(lines.len(), 4, "{screen}");
        assert!(
            lines[3].contains("ROLLING_OUT [")
                && lines[3].contains("] 1/2 hosts running the job ("),
            "{screen}"
        );
    }

    #[test]
    fn the_table_counts_time_from_the_last_change() {
        let term = InMemoryTerm::new(20, 100);
        let mut live = Live::new(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let pulling = status(&[("h1", Some("2"), Some("PULLING_IMAGE"))]);
        live.show(&job(), &pulling, 0);
        // Seen long ago in the same state: the time counts from then.
        let (_, _, first) = live.seen.get_mut("h1").expect("seen");
        *first = first
            .checked_sub(Duration::from_secs(90))
            .expect("the clock runs since long enough");
        live.show(&job(), &pulling, 0);
        assert!(term.contents().contains("PULLING_IMAGE    1 minute"));
        // A new state starts again from zero.
        live.show(&job(), &status(&[("h1", Some("2"), Some("RUNNING"))]), 1);
        assert!(term.contents().contains("RUNNING    0 seconds"));
    }
}
