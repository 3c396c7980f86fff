//! Renderings of task statuses: the `status` table (Helios's
//! `JobStatusTable`), the `history` table and the `watch` lines.

use std::fmt::Display;

use chrono::{DateTime, TimeZone, Utc};
use helios_api::{Deployment, JobId, TaskStatus, TaskStatusEvent, ThrottleState};

use super::responses::enum_name;
use super::table;

/// Header of the `helios status` table.
pub const STATUS_HEADER: [&str; 6] = ["JOB ID", "HOST", "GOAL", "STATE", "CONTAINER ID", "PORTS"];

/// Header of the `helios history` table.
pub const HISTORY_HEADER: [&str; 5] = ["HOST", "TIMESTAMP", "STATE", "THROTTLED", "CONTAINERID"];

/// What `watch` prints once before its reports.
pub const WATCH_HEADER: &str =
    "Control-C to stop\nJOB                  HOST                           STATE    THROTTLED?\n";

/// Container ids are cut to this many characters without `-f`.
const SHORT_CONTAINER_ID: usize = 7;

/// One line of the `status` table: a job on a host, with its deployment
/// and/or its reported status (at least one of the two exists).
#[derive(Debug, Clone, Copy)]
pub struct StatusRow<'a> {
    /// The job.
    pub job: &'a JobId,
    /// The host, as it should be printed.
    pub host: &'a str,
    /// The deployment on that host, if any.
    pub deployment: Option<&'a Deployment>,
    /// The status the agent reported, if any.
    pub task: Option<&'a TaskStatus>,
}

/// `RUNNING`, or `FAILED (IMAGE_MISSING)` when the task is throttled.
pub fn state(task: &TaskStatus) -> String {
    let state = enum_name(&task.state);
    if task.throttled == ThrottleState::No {
        state
    } else {
        format!("{state} ({})", enum_name(&task.throttled))
    }
}

/// `name=internal:external` for each port, by name, space-separated (Java
/// prints a missing external port as `null`).
pub fn ports(task: &TaskStatus) -> String {
    task.ports
        .iter()
        .map(|(name, p)| {
            let external = p
                .external_port
                .map_or_else(|| "null".to_string(), |e| e.to_string());
            format!("{name}={}:{external}", p.internal_port)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The cells of one `status` row.
pub fn status_row(row: &StatusRow<'_>, full: bool) -> Vec<String> {
    let job = if full {
        row.job.to_string()
    } else {
        row.job.to_short_string()
    };
    let goal = row
        .deployment
        .map(|d| enum_name(&d.goal))
        .unwrap_or_default();
    match row.task {
        None => vec![
            job,
            row.host.to_string(),
            goal,
            String::new(),
            String::new(),
            String::new(),
        ],
        Some(task) => {
            let container = task.container_id.as_deref().unwrap_or_default();
            let container: String = if full {
                container.to_string()
            } else {
                container.chars().take(SHORT_CONTAINER_ID).collect()
            };
            vec![
                job,
                row.host.to_string(),
                goal,
                state(task),
                container,
                ports(task),
            ]
        }
    }
}

/// The `status` table, header included.
pub fn status_table(rows: &[StatusRow<'_>], full: bool) -> String {
    let mut cells = vec![STATUS_HEADER.iter().map(|s| s.to_string()).collect()];
    cells.extend(rows.iter().map(|r| status_row(r, full)));
    table::render(&cells)
}

/// The `history` table; timestamps are shown in `tz` as
/// `YYYY-MM-dd HH:mm:ss.SSS`, a missing container as `<none>`.
pub fn history_table<Tz>(events: &[TaskStatusEvent], tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let mut cells = vec![HISTORY_HEADER.iter().map(|s| s.to_string()).collect()];
    for event in events {
        let timestamp = Utc
            .timestamp_millis_opt(event.timestamp)
            .single()
            .map(|t| {
                t.with_timezone(tz)
                    .format("%Y-%m-%d %H:%M:%S%.3f")
                    .to_string()
            })
            .unwrap_or_else(|| event.timestamp.to_string());
        cells.push(vec![
            event.host.clone(),
            timestamp,
            enum_name(&event.status.state),
            enum_name(&event.status.throttled),
            event
                .status
                .container_id
                .clone()
                .unwrap_or_else(|| "<none>".to_string()),
        ]);
    }
    table::render(&cells)
}

/// The line `watch` prints before each report:
/// dashes and `[YYYY-MM-dd HH:mm:ss UTC]`.
pub fn watch_separator(now: DateTime<Utc>) -> String {
    format!(
        "-------------------- ------------------------------ -------- ---------- {}\n",
        utc_stamp(now)
    )
}

/// `[YYYY-MM-dd HH:mm:ss UTC]`, the time stamp that ends the separators of `watch` and
/// `watch-deployment-group`.
pub fn utc_stamp(now: DateTime<Utc>) -> String {
    format!("[{} UTC]", now.format("%Y-%m-%d %H:%M:%S"))
}

/// One `watch` line, `%-20s %-30s %-8s %s`: the job's short id and the host
/// cut to 20 and 30 characters, then the state and the throttle state
/// (`UNKNOWN` for both without a status).
pub fn watch_line(job: &JobId, host: &str, task: Option<&TaskStatus>) -> String {
    let (state, throttled) = match task {
        Some(t) => (enum_name(&t.state), enum_name(&t.throttled)),
        None => ("UNKNOWN".to_string(), "UNKNOWN".to_string()),
    };
    format!(
        "{} {} {} {throttled}\n",
        pad(&chop(&job.to_short_string(), 20), 20),
        pad(&chop(host, 30), 30),
        pad(&state, 8),
    )
}

fn chop(s: &str, len: usize) -> String {
    s.chars().take(len).collect()
}

/// Left-aligns `s` in `width` characters (`%-Ns`; longer strings stay whole).
fn pad(s: &str, width: usize) -> String {
    let len = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::{Goal, Job, PortMapping, State};

    const HASH: &str = "4f7125bff35d3cecaac237da3ab17efca8a765f9";

    fn id() -> JobId {
        JobId::full("foo", "1", HASH)
    }

    fn task(state: State, throttled: ThrottleState) -> TaskStatus {
        let mut t = TaskStatus::new(Job::new(id(), "busybox"), Goal::Start, state);
        t.throttled = throttled;
        t.container_id = Some("60671498ae98aaaa".into());
        t.ports
            .insert("http".into(), PortMapping::with_external(80, 20001));
        t.ports.insert("admin".into(), PortMapping::of(81));
        t
    }

    #[test]
    fn status_table_like_job_status_table() {
        let id = id();
        let running = task(State::Running, ThrottleState::No);
        let failed = task(State::Failed, ThrottleState::ImageMissing);
        let start = Deployment::new(id.clone(), Goal::Start);
        let rows = [
            StatusRow {
                job: &id,
                host: "h1.",
                deployment: Some(&start),
                task: Some(&running),
            },
            StatusRow {
                job: &id,
                host: "h2.",
                deployment: Some(&start),
                task: Some(&failed),
            },
            StatusRow {
                job: &id,
                host: "h3.",
                deployment: Some(&start),
                task: None,
            },
            StatusRow {
                job: &id,
                host: "h4.",
                deployment: None,
                task: Some(&running),
            },
        ];
        let expected = "\
JOB ID           HOST    GOAL     STATE                     CONTAINER ID    PORTS                          \n\
foo:1:4f7125b    h1.     START    RUNNING                   6067149         admin=81:null http=80:20001    \n\
foo:1:4f7125b    h2.     START    FAILED (IMAGE_MISSING)    6067149         admin=81:null http=80:20001    \n\
foo:1:4f7125b    h3.     START                                                                             \n\
foo:1:4f7125b    h4.              RUNNING                   6067149         admin=81:null http=80:20001    \n";
        assert_eq!(status_table(&rows, false), expected);
        let full = status_table(&rows[..1], true);
        assert!(full.contains(&format!(
            "foo:1:{HASH}    h1.     START    RUNNING    60671498ae98aaaa    "
        )));
    }

    #[test]
    fn history_table_in_the_given_zone() {
        let mut creating = task(State::Creating, ThrottleState::No);
        creating.container_id = None;
        let events = [
            TaskStatusEvent {
                host: "192.168.33.10".into(),
                status: creating,
                timestamp: 1_407_767_864_987,
            },
            TaskStatusEvent {
                host: "192.168.33.10".into(),
                status: task(State::Running, ThrottleState::Flapping),
                timestamp: 1_407_767_865_387,
            },
        ];
        let expected = "\
HOST             TIMESTAMP                  STATE       THROTTLED    CONTAINERID         \n\
192.168.33.10    2014-08-11 14:37:44.987    CREATING    NO           <none>              \n\
192.168.33.10    2014-08-11 14:37:45.387    RUNNING     FLAPPING     60671498ae98aaaa    \n";
        assert_eq!(history_table(&events, &Utc), expected);
        let plus_two = chrono::FixedOffset::east_opt(2 * 3600).expect("offset");
        assert!(history_table(&events, &plus_two).contains("2014-08-11 16:37:44.987"));
        assert_eq!(
            history_table(&[], &Utc),
            format!(
                "{}\n",
                "HOST    TIMESTAMP    STATE    THROTTLED    CONTAINERID    "
            )
        );
    }

    #[test]
    fn watch_lines_are_fixed_width() {
        let now = Utc
            .timestamp_millis_opt(1_407_767_864_987)
            .single()
            .expect("time");
        assert_eq!(
            watch_separator(now),
            "-------------------- ------------------------------ -------- ---------- [2014-08-11 14:37:44 UTC]\n"
        );
        let running = task(State::Running, ThrottleState::No);
        assert_eq!(
            watch_line(&id(), "h1", Some(&running)),
            "foo:1:4f7125b        h1                             RUNNING  NO\n"
        );
        assert_eq!(
            watch_line(&id(), "h1", None),
            "foo:1:4f7125b        h1                             UNKNOWN  UNKNOWN\n"
        );
        let long = JobId::full("a-very-long-job-name", "1", HASH);
        let host = "a-host-name-longer-than-thirty-characters.example.com";
        let pulling = task(State::PullingImage, ThrottleState::No);
        assert_eq!(
            watch_line(&long, host, Some(&pulling)),
            "a-very-long-job-name a-host-name-longer-than-thirty PULLING_IMAGE NO\n"
        );
        assert!(WATCH_HEADER.starts_with("Control-C to stop\nJOB "));
    }
}
