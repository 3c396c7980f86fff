//! The `helios hosts` table (Helios's `HostListCommand`), with Joda's
//! `humanDuration` and Java's `%.2f`.

use helios_api::{HostStatus, State, Status};

use super::{hostname, table};

/// Header of the `helios hosts` table.
pub const HOSTS_HEADER: [&str; 12] = [
    "HOST",
    "STATUS",
    "DEPLOYED",
    "RUNNING",
    "CPUS",
    "MEM",
    "LOAD AVG",
    "MEM USAGE",
    "OS",
    "HELIOS",
    "DOCKER",
    "LABELS",
];

const GIB: i64 = 1024 * 1024 * 1024;

/// Helios's `humanDuration`: `0 seconds`, `N second(s)`, `N minute(s)`,
/// `N hour(s)` or `N day(s)`, the largest unit that is non-zero, truncated.
/// Like Joda's normalized periods, the count is the unit's component (so a
/// negative duration of a minute or more prints `0 second`), and the plural
/// `s` only follows counts above 1.
pub fn human_duration(millis: i64) -> String {
    let seconds = millis / 1000;
    let unit = |n: i64, name: &str| format!("{n} {name}{}", if n > 1 { "s" } else { "" });
    if seconds == 0 {
        "0 seconds".to_string()
    } else if seconds < 60 {
        unit(seconds % 60, "second")
    } else if seconds / 60 < 60 {
        unit((seconds / 60) % 60, "minute")
    } else if seconds / 3600 < 24 {
        unit((seconds / 3600) % 24, "hour")
    } else {
        unit(millis / 86_400_000, "day")
    }
}

/// Java's `String.format("%.2f", x)` (and other precisions): the shortest
/// decimal that reads back as `x`, rounded half-up, so `0.125` gives `0.13`
/// where Rust's formatter gives `0.12`.
pub fn java_fixed(value: f64, precision: usize) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    // `{:e}` is the shortest round-trip form: `1.25e-1`.
    let sci = format!("{:e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // The value is 0.d1d2… × 10^(exponent + 1); keep the digits down to
    // 10^-precision.
    let keep = exponent + 1 + precision as i64;
    let mut kept: Vec<u8> = if keep <= 0 {
        Vec::new()
    } else {
        (0..keep as usize)
            .map(|i| digits.get(i).copied().unwrap_or(0))
            .collect()
    };
    let next = if keep < 0 {
        0
    } else {
        digits.get(keep as usize).copied().unwrap_or(0)
    };
    if next >= 5 {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    while kept.len() <= precision {
        kept.insert(0, 0);
    }
    let text: String = kept.iter().map(|d| char::from(b'0' + d)).collect();
    let (int_part, frac_part) = text.split_at(text.len() - precision);
    if precision == 0 {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac_part}")
    }
}

/// The cells of one host's row; `now` is epoch milliseconds.
pub fn host_row(
    host: &str,
    status: &HostStatus,
    full: bool,
    search: &[String],
    now: i64,
) -> Vec<String> {
    let running = status
        .jobs
        .keys()
        .filter_map(|id| status.statuses.get(id))
        .filter(|t| t.state == State::Running)
        .count();
    let (cpus, mem, load, usage, os, docker) = match &status.host_info {
        Some(hi) => {
            let total = hi.memory_total_bytes;
            let free = hi.memory_free_bytes;
            // Java computes `(float) (total - free) / total`.
            let usage = (total - free) as f32 / total as f32;
            let docker = hi
                .docker_version
                .as_ref()
                .map(|dv| format!("{} ({})", dv.version, dv.api_version))
                .unwrap_or_default();
            (
                hi.cpus.to_string(),
                format!("{} gb", total / GIB),
                java_fixed(hi.load_avg, 2),
                java_fixed(f64::from(usage), 2),
                format!("{} {}", hi.os_name, hi.os_version),
                docker,
            )
        }
        None => Default::default(),
    };
    let mut state = match status.status {
        Status::Up => "Up".to_string(),
        Status::Down => "Down".to_string(),
    };
    let version = status
        .agent_info
        .as_ref()
        .map(|a| a.version.clone())
        .unwrap_or_default();
    if let Some(agent) = &status.agent_info {
        let since = match status.status {
            Status::Up => now - agent.start_time,
            Status::Down => now - agent.start_time - agent.uptime,
        };
        state = format!("{state} {}", human_duration(since));
    }
    let labels: Vec<String> = status
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vec![
        hostname::format_hostname(full, host, search),
        state,
        status.jobs.len().to_string(),
        running.to_string(),
        cpus,
        mem,
        load,
        usage,
        os,
        version,
        docker,
        labels.join(", "),
    ]
}

/// The `hosts` table for `(name, status)` pairs, in the given order.
pub fn hosts_table<'a>(
    statuses: impl IntoIterator<Item = (&'a String, &'a HostStatus)>,
    full: bool,
    search: &[String],
    now: i64,
) -> String {
    let mut cells = vec![HOSTS_HEADER.iter().map(|s| s.to_string()).collect()];
    cells.extend(
        statuses
            .into_iter()
            .map(|(host, status)| host_row(host, status, full, search, now)),
    );
    table::render(&cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::{
        AgentInfo, Deployment, DockerVersion, Goal, HostInfo, Job, JobId, TaskStatus,
    };
    use std::collections::BTreeMap;

    #[test]
    fn human_durations() {
        for (millis, expected) in [
            (0, "0 seconds"),
            (999, "0 seconds"),
            (1_000, "1 second"),
            (59_999, "59 seconds"),
            (60_000, "1 minute"),
            (3 * 60_000 + 5_000, "3 minutes"),
            (3_599_999, "59 minutes"),
            (3_600_000, "1 hour"),
            (2 * 3_600_000 + 59 * 60_000, "2 hours"),
            (86_399_999, "23 hours"),
            (86_400_000, "1 day"),
            (15 * 86_400_000 + 3_600_000, "15 days"),
            (-1_500, "-1 second"),
            (-120_000, "0 second"),
        ] {
            assert_eq!(human_duration(millis), expected, "{millis}");
        }
    }

    #[test]
    fn java_fixed_rounds_half_up() {
        for (value, expected) in [
            (0.0, "0.00"),
            (0.125, "0.13"),
            (0.124, "0.12"),
            (0.005, "0.01"),
            (0.0049, "0.00"),
            (0.995, "1.00"),
            (9.999, "10.00"),
            (1.5, "1.50"),
            (123.456, "123.46"),
            (1e-10, "0.00"),
            (2.0, "2.00"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(java_fixed(value, 2), expected, "{value}");
        }
        // Java widens the float to a double first: 0.39f is 0.38999998569…
        assert_eq!(java_fixed(f64::from(0.39f32), 2), "0.39");
        assert_eq!(java_fixed(f64::from(0.125f32), 2), "0.13");
        assert_eq!(java_fixed(2.5, 0), "3");
    }

    fn host_status() -> HostStatus {
        let a = JobId::full("a", "1", "aaa");
        let b = JobId::full("b", "1", "bbb");
        let mut jobs = BTreeMap::new();
        jobs.insert(a.clone(), Deployment::new(a.clone(), Goal::Start));
        jobs.insert(b.clone(), Deployment::new(b.clone(), Goal::Start));
        let mut statuses = BTreeMap::new();
        statuses.insert(
            a.clone(),
            TaskStatus::new(Job::new(a, "i"), Goal::Start, State::Running),
        );
        statuses.insert(
            b.clone(),
            TaskStatus::new(Job::new(b, "i"), Goal::Start, State::Exited),
        );
        HostStatus {
            agent_info: Some(AgentInfo {
                start_time: 1_000_000,
                uptime: 60_000,
                version: "0.1.0".into(),
                ..AgentInfo::default()
            }),
            environment: BTreeMap::new(),
            host_info: Some(HostInfo {
                cpus: 4,
                load_avg: 0.0,
                memory_total_bytes: GIB + GIB / 2,
                memory_free_bytes: (GIB + GIB / 2) / 4 * 3,
                os_name: "Linux".into(),
                os_version: "6.8.0".into(),
                docker_version: Some(DockerVersion {
                    version: "27.3.1".into(),
                    api_version: "1.47".into(),
                    ..DockerVersion::default()
                }),
                ..HostInfo::default()
            }),
            jobs,
            labels: [
                ("role".to_string(), "web".to_string()),
                ("dc".to_string(), "a".to_string()),
            ]
            .into(),
            status: Status::Up,
            statuses,
        }
    }

    #[test]
    fn host_rows() {
        let up = host_status();
        let now = 1_000_000 + 29 * 60_000 + 10_000;
        let row = host_row("192.168.33.10", &up, false, &[], now);
        assert_eq!(
            row,
            [
                "192.168.33.10.",
                "Up 29 minutes",
                "2",
                "1",
                "4",
                "1 gb",
                "0.00",
                "0.25",
                "Linux 6.8.0",
                "0.1.0",
                "27.3.1 (1.47)",
                "dc=a, role=web"
            ]
        );
        let mut down = host_status();
        down.status = Status::Down;
        let row = host_row("h", &down, true, &[], 1_000_000 + 60_000 + 2 * 3_600_000);
        assert_eq!((row[0].as_str(), row[1].as_str()), ("h", "Down 2 hours"));

        let bare = HostStatus {
            agent_info: None,
            environment: BTreeMap::new(),
            host_info: None,
            jobs: BTreeMap::new(),
            labels: BTreeMap::new(),
            status: Status::Down,
            statuses: BTreeMap::new(),
        };
        let row = host_row("h", &bare, true, &[], now);
        assert_eq!(row[..4], ["h", "Down", "0", "0"]);
        assert!(row[4..].iter().all(String::is_empty));
    }

    #[test]
    fn hosts_table_has_helios_columns() {
        let status = host_status();
        let host = "h1".to_string();
        let text = hosts_table([(&host, &status)], true, &[], 1_000_000 + 3 * 60_000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "HOST    STATUS          DEPLOYED    RUNNING    CPUS    MEM     LOAD AVG    MEM USAGE    OS             HELIOS    DOCKER           LABELS            "
        );
        assert_eq!(
            lines[1],
            "h1      Up 3 minutes    2           1          4       1 gb    0.00        0.25         Linux 6.8.0    0.1.0     27.3.1 (1.47)    dc=a, role=web    "
        );
    }
}
