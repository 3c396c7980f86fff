//! The text of `inspect-deployment-group`, `deployment-group-status`,
//! `watch-deployment-group` and `rolling-update`, and host selectors in Helios's pretty form
//! (`label = value`, `label in [a, b]`), as Helios's `DeploymentGroupInspectCommand`,
//! `DeploymentGroupStatusCommand`, `DeploymentGroupWatchCommand` and `RollingUpdateCommand`
//! print them; also the table `rolling-update` redraws on a terminal, which Helios has not.
//!
//! Absent values print as Java's `printf` prints `null`: `null` for `%s` and `%d`, `false`
//! for `%b`. The JSON forms are plain serializations and need no renderer here.

use std::fmt::Display;
use std::time::Duration;

use chrono::{DateTime, Utc};
use helios_api::{
    DeploymentGroup, DeploymentGroupHostStatus, DeploymentGroupStatusResponse, HostSelector, JobId,
    RolloutOptions,
};

use super::hostname::format_hostname;
use super::hosts::human_duration;
use super::responses::enum_name;
use super::table;
use super::tasks::utc_stamp;

/// Helios's `HostSelector.toPrettyString()`: label, operator as typed (`=`, `!=`, `in`,
/// `notin`) and the operand, a list as Java prints one (`[a, b]`).
pub fn selector(s: &HostSelector) -> String {
    s.to_string()
}

/// `Host selectors:` and one indented line per selector.
fn selector_lines(out: &mut String, selectors: &[HostSelector]) {
    out.push_str("Host selectors:\n");
    for s in selectors {
        out.push_str(&format!("  {}\n", selector(s)));
    }
}

/// A value as Java's `%s`/`%d` print it: `null` when absent.
fn or_null<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// `inspect-deployment-group` without `--json`: name, selectors, job (`null` before the
/// first rolling update), then the reason and options of the last rolling update when the
/// group has them. The token is shown only when not empty.
pub fn inspect(group: &DeploymentGroup) -> String {
    let mut out = format!("Name: {}\n", group.name);
    selector_lines(&mut out, &group.host_selectors);
    out.push_str(&format!("Job: {}\n", or_null(group.job_id.as_ref())));
    if let Some(reason) = &group.rolling_update_reason {
        out.push_str(&format!("Rolling update reason: {}\n", enum_name(reason)));
    }
    if let Some(options) = &group.rollout_options {
        out.push_str("Rollout options:\n");
        out.push_str(&format!("  Migrate: {}\n", or_null(options.migrate)));
        out.push_str(&format!("  Overlap: {}\n", or_null(options.overlap)));
        out.push_str(&format!(
            "  Parallelism: {}\n",
            or_null(options.parallelism)
        ));
        out.push_str(&format!("  Timeout: {}\n", or_null(options.timeout)));
        if let Some(token) = options.token.as_deref().filter(|t| !t.is_empty()) {
            out.push_str(&format!("  Token: {token}\n"));
        }
        // Java's `%b` prints a null Boolean as `false`.
        let ignore = options.ignore_failures.unwrap_or(false);
        out.push_str(&format!("  Ignore failures: {ignore}\n"));
    }
    out
}

/// `deployment-group-status NAME` without `--json`: `Name:` (the name as given), `Job Id:`
/// (short unless `full`; `null` before the first rolling update), `Status:`, the selectors,
/// `Error:` when there is one, a blank line, and the table
/// `HOST  UP-TO-DATE  JOB  STATE`. A host is up to date (`X`) when it runs the group's job;
/// `-` stands for no job or no state. Host names are shortened against `search` unless
/// `full`.
pub fn status(
    name: &str,
    response: &DeploymentGroupStatusResponse,
    full: bool,
    search: &[String],
) -> String {
    let job = response.deployment_group.job_id.as_ref();
    let shown_job = job.map(|id| {
        if full {
            id.to_string()
        } else {
            id.to_short_string()
        }
    });
    let mut out = format!("Name: {name}\n");
    out.push_str(&format!("Job Id: {}\n", or_null(shown_job)));
    out.push_str(&format!("Status: {}\n", enum_name(&response.status)));
    selector_lines(&mut out, &response.deployment_group.host_selectors);
    if let Some(error) = response.error.as_deref().filter(|e| !e.is_empty()) {
        out.push_str(&format!("Error: {error}\n"));
    }
    out.push('\n');
    let mut rows = vec![cells(&["HOST", "UP-TO-DATE", "JOB", "STATE"])];
    for host in &response.host_statuses {
        let name = format_hostname(full, &host.host, search);
        rows.push(host_cells(name, host, job, full));
    }
    out.push_str(&table::render(&rows));
    out
}

/// A host's cells in the `HOST  UP-TO-DATE  JOB  STATE` tables: `name` as given, `X` when the
/// host runs `group_job`, its job (short unless `full_job`) and its state, `-` for none.
fn host_cells(
    name: String,
    host: &DeploymentGroupHostStatus,
    group_job: Option<&JobId>,
    full_job: bool,
) -> Vec<String> {
    let up_to_date = host.job_id.is_some() && host.job_id.as_ref() == group_job;
    let host_job = match &host.job_id {
        None => "-".to_string(),
        Some(id) if full_job => id.to_string(),
        Some(id) => id.to_short_string(),
    };
    let state = host.state.as_ref().map_or("-".to_string(), enum_name);
    vec![
        name,
        if up_to_date { "X" } else { "" }.to_string(),
        host_job,
        state,
    ]
}

/// What `watch-deployment-group` prints once, before its reports (Helios's header, whose
/// columns its reports follow).
pub const WATCH_HEADER: &str =
    "Control-C to stop\nSTATUS               HOST                           STATE\n";

/// The line `watch-deployment-group` prints before each report: dashes and
/// `[YYYY-MM-dd HH:mm:ss UTC]`, 80 characters as in Helios.
pub fn watch_separator(now: DateTime<Utc>) -> String {
    format!("{} {}\n", "-".repeat(54), utc_stamp(now))
}

/// One `watch-deployment-group` report: a `%-20s %-30s %s` line per host of the group, in
/// its order: the group's status, the host (shortened against `search` unless `full`) and the
/// state of the group's job there, `-` for none.
pub fn watch_report(
    response: &DeploymentGroupStatusResponse,
    full: bool,
    search: &[String],
) -> String {
    let status = enum_name(&response.status);
    let mut out = String::new();
    for host in &response.host_statuses {
        let name = format_hostname(full, &host.host, search);
        let state = host.state.as_ref().map_or("-".to_string(), enum_name);
        out.push_str(&format!("{status:<20} {name:<30} {state}\n"));
    }
    out
}

/// The line `rolling-update` prints once the master started the rollout:
/// `Rolling update[ (async)] started: <group> -> <job short id> (parallelism=…, timeout=…,
/// overlap=…, token=…, ignoreFailures=…, migrate=…)`. `options` are the effective ones
/// ([`RolloutOptions::cli_effective`]), an unset one printed as Java's `printf` prints `null`.
pub fn rolling_update_started(
    group: &str,
    job: &JobId,
    options: &RolloutOptions,
    asynchronous: bool,
) -> String {
    format!(
        "Rolling update{} started: {group} -> {} (parallelism={}, timeout={}, overlap={}, \
         token={}, ignoreFailures={}, migrate={})",
        if asynchronous { " (async)" } else { "" },
        job.to_short_string(),
        or_null(options.parallelism),
        or_null(options.timeout),
        options.overlap.unwrap_or(false),
        or_null(options.token.as_ref()),
        options.ignore_failures.unwrap_or(false),
        options.migrate.unwrap_or(false),
    )
}

/// `<host> -> RUNNING (i/N)`: `host` is the `done`-th of the group's `total` hosts to run the
/// new job.
pub fn host_running(host: &str, done: usize, total: usize) -> String {
    format!("{host} -> RUNNING ({done}/{total})")
}

/// A host in the table `rolling-update` redraws on a terminal.
#[derive(Debug, Clone, Copy)]
pub struct RolloutRow<'a> {
    /// The host's entry in the group's status.
    pub status: &'a DeploymentGroupHostStatus,
    /// How long the host has shown this job and state.
    pub since: Duration,
}

/// The table `rolling-update` redraws on a terminal while it waits:
/// `HOST  UP-TO-DATE  JOB  STATE  SINCE`, a row per host in the group's order, `X` for the
/// hosts that run `job` (the one being rolled out). Full host names, short job ids; no
/// trailing blanks and no final line break, since it is redrawn in place.
pub fn rollout_table(job: &JobId, rows: &[RolloutRow<'_>]) -> String {
    let mut cells_rows = vec![cells(&["HOST", "UP-TO-DATE", "JOB", "STATE", "SINCE"])];
    for row in rows {
        let mut cells = host_cells(row.status.host.clone(), row.status, Some(job), false);
        let millis = i64::try_from(row.since.as_millis()).unwrap_or(i64::MAX);
        cells.push(human_duration(millis));
        cells_rows.push(cells);
    }
    let text = table::render(&cells_rows);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n")
}

fn cells(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HASH: &str = "3f5c6e4aef30e1ab68931dbd66a83226410b87e9";

    fn sel(s: &str) -> HostSelector {
        s.parse().expect("selector")
    }

    #[test]
    fn selectors_print_like_to_pretty_string() {
        assert_eq!(selector(&sel("role=web")), "role = web");
        assert_eq!(selector(&sel("role != web")), "role != web");
        assert_eq!(selector(&sel("dc in (b, a)")), "dc in [a, b]");
        // Helios prints the operator as typed, `notin`, not the API's `not in`.
        assert_eq!(selector(&sel("dc notin (a)")), "dc notin [a]");
        // Whatever a master sends: Helios prints the operand as Java does.
        let odd: HostSelector =
            serde_json::from_value(json!({"label":"x","operand":["a"],"operator":"EQUALS"}))
                .expect("json");
        assert_eq!(selector(&odd), "x = [a]");
    }

    #[test]
    fn inspect_a_new_group() {
        let group = DeploymentGroup::new("g", vec![sel("foo=bar"), sel("baz in (q, p)")]);
        assert_eq!(
            inspect(&group),
            "Name: g\nHost selectors:\n  foo = bar\n  baz in [p, q]\nJob: null\n"
        );
    }

    #[test]
    fn inspect_a_rolled_out_group() {
        let group: DeploymentGroup = serde_json::from_value(json!({
            "hostSelectors": [],
            "jobId": format!("foo:1:{HASH}"),
            "name": "g",
            "rollingUpdateReason": "HOSTS_CHANGED",
            "rolloutOptions": {"ignoreFailures": true, "migrate": false, "overlap": true,
                               "parallelism": 2, "timeout": 1000, "token": "tok"}
        }))
        .expect("json");
        assert_eq!(
            inspect(&group),
            format!(
                "Name: g\nHost selectors:\nJob: foo:1:{HASH}\nRolling update reason: HOSTS_CHANGED\n\
                 Rollout options:\n  Migrate: false\n  Overlap: true\n  Parallelism: 2\n  \
                 Timeout: 1000\n  Token: tok\n  Ignore failures: true\n"
            )
        );
        // Unset options print as Java's printf prints null; an empty token is left out.
        let sparse: DeploymentGroup = serde_json::from_value(json!({
            "name": "g", "rolloutOptions": {"token": ""}
        }))
        .expect("json");
        assert_eq!(
            inspect(&sparse),
            "Name: g\nHost selectors:\nJob: null\nRollout options:\n  Migrate: null\n  \
             Overlap: null\n  Parallelism: null\n  Timeout: null\n  Ignore failures: false\n"
        );
    }

    fn status_response(
        job: Option<&str>,
        error: serde_json::Value,
    ) -> DeploymentGroupStatusResponse {
        let other = format!("bar:2:{HASH}");
        let mut group = json!({"hostSelectors":[{"label":"role","operand":"web","operator":"EQUALS"}],
                               "name":"g"});
        if let Some(job) = job {
            group["jobId"] = json!(job);
        }
        serde_json::from_value(json!({
            "deploymentGroup": group,
            "deploymentGroupStatus": null,
            "error": error,
            "hostStatuses": [
                {"host": "h1.example.com", "jobId": job, "state": "RUNNING"},
                {"host": "h2", "jobId": other, "state": "PULLING_IMAGE"},
                {"host": "h3", "jobId": null, "state": null}
            ],
            "status": "ROLLING_OUT"
        }))
        .expect("json")
    }

    #[test]
    fn status_marks_hosts_running_the_groups_job() {
        let id = format!("foo:1:{HASH}");
        let response = status_response(Some(&id), json!(null));
        let search = vec!["example.com".to_string()];
        assert_eq!(
            status("g", &response, false, &search),
            "Name: g\nJob Id: foo:1:3f5c6e4\nStatus: ROLLING_OUT\nHost selectors:\n  role = web\n\n\
             HOST    UP-TO-DATE    JOB              STATE            \n\
             h1      X             foo:1:3f5c6e4    RUNNING          \n\
             h2.                   bar:2:3f5c6e4    PULLING_IMAGE    \n\
             h3.                   -                -                \n"
        );
        let text = status("g", &response, true, &search);
        assert!(
            text.starts_with(&format!("Name: g\nJob Id: {id}\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("h1.example.com    X             {id}    RUNNING")),
            "{text}"
        );
        assert!(text.contains("\nh2                "), "{text}");
    }

    #[test]
    fn watch_reports_one_line_per_host() {
        let id = format!("foo:1:{HASH}");
        let response = status_response(Some(&id), json!(null));
        let search = vec!["example.com".to_string()];
        assert_eq!(
            watch_report(&response, false, &search),
            "ROLLING_OUT          h1                             RUNNING\n\
             ROLLING_OUT          h2.                            PULLING_IMAGE\n\
             ROLLING_OUT          h3.                            -\n"
        );
        assert!(
            watch_report(&response, true, &search)
                .starts_with("ROLLING_OUT          h1.example.com                 RUNNING\n")
        );
        // The reports line up under the header.
        let header = WATCH_HEADER.lines().nth(1).expect("header");
        assert_eq!(header.find("HOST"), Some(21));
        assert_eq!(header.find("STATE"), Some(52));
        let now = chrono::TimeZone::timestamp_millis_opt(&Utc, 1_407_767_864_987)
            .single()
            .expect("time");
        let separator = watch_separator(now);
        assert_eq!(
            separator,
            format!("{} [2014-08-11 14:37:44 UTC]\n", "-".repeat(54))
        );
        assert_eq!(separator.trim_end().len(), 80);
    }

    #[test]
    fn rolling_update_lines_print_unset_options_like_java() {
        let id = JobId::full("foo", "1", HASH);
        let full = RolloutOptions::defaults();
        assert_eq!(
            rolling_update_started("g", &id, &full, false),
            "Rolling update started: g -> foo:1:3f5c6e4 (parallelism=1, timeout=300, \
             overlap=false, token=, ignoreFailures=false, migrate=false)"
        );
        let sparse = RolloutOptions {
            overlap: Some(true),
            migrate: Some(true),
            ..RolloutOptions::default()
        };
        assert_eq!(
            rolling_update_started("g", &id, &sparse, true),
            "Rolling update (async) started: g -> foo:1:3f5c6e4 (parallelism=null, \
             timeout=null, overlap=true, token=null, ignoreFailures=false, migrate=true)"
        );
        assert_eq!(host_running("h1", 2, 3), "h1 -> RUNNING (2/3)");
    }

    #[test]
    fn rollout_table_marks_hosts_running_the_new_job() {
        let id = format!("foo:1:{HASH}");
        let response = status_response(Some(&id), json!(null));
        let since = [
            Duration::from_secs(75),
            Duration::from_millis(2500),
            Duration::ZERO,
        ];
        let rows: Vec<RolloutRow<'_>> = response
            .host_statuses
            .iter()
            .zip(since)
            .map(|(status, since)| RolloutRow { status, since })
            .collect();
        let job = JobId::parse_json_form(&id).expect("id");
        assert_eq!(
            rollout_table(&job, &rows),
            "HOST              UP-TO-DATE    JOB              STATE            SINCE\n\
             h1.example.com    X             foo:1:3f5c6e4    RUNNING          1 minute\n\
             h2                              bar:2:3f5c6e4    PULLING_IMAGE    2 seconds\n\
             h3                              -                -                0 seconds"
        );
    }

    #[test]
    fn status_of_an_idle_or_failed_group() {
        // Never rolled out: no job, Helios's empty error is not shown.
        let idle = status_response(None, json!(""));
        let text = status("g", &idle, false, &[]);
        assert!(
            text.starts_with(
                "Name: g\nJob Id: null\nStatus: ROLLING_OUT\nHost selectors:\n  role = web\n\nHOST"
            ),
            "{text}"
        );
        // Without search domains, names are absolute.
        assert!(text.contains("\nh1.example.com.    "), "{text}");
        assert!(!text.contains('X'), "{text}");
        let failed = status_response(None, json!("h2: boom"));
        assert!(status("g", &failed, true, &[]).contains("  role = web\nError: h2: boom\n\nHOST"),);
    }
}
