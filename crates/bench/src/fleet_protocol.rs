//! The line protocol between `helios-bench scale` and its fleet processes
//! (`helios-bench scale-agents`, see `fleet.rs`): events on the fleet's stdout, commands on
//! its stdin, one per line, space-separated. Hosts and jobs are numbered: host `h` is named
//! `<host prefix><h>` and job `i` is `<job prefix><i>`, deployed to host `i % agents`.
//! Times are the wall clock in microseconds since the epoch: every process runs on this
//! machine, so the fleet's times compare with the benchmark's.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock, microseconds since the epoch.
pub fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What a fleet process tells the benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Host `h`'s agent was welcomed by the leader for the first time (`U h`).
    Connected(usize),
    /// Job `i`'s first task status appeared at its agent: the assignment arrived (`A i t`).
    Assigned(usize, u64),
    /// Job `i`'s task is RUNNING at its agent, queued for the master (`R i t`).
    Running(usize, u64),
    /// The `mark` command is done: the highest assignment index any of its agents had
    /// applied (`M index`).
    Marked(u64),
    /// Host `h`'s agent applied assignments of an index above the mark: it has a session
    /// with a new leader (`K h t`).
    Reconnected(usize, u64),
    /// The check of host `h` (`V h ok`, or `V h <problem>`).
    Verified(usize, Option<String>),
    /// Every host of the process was checked (`VD`).
    VerifyDone,
}

/// What the benchmark tells a fleet process (end of stdin: stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Remember the highest assignment index applied, answer `Marked`, then report each
    /// agent as `Reconnected` once it applies a higher one.
    Mark,
    /// Check every host's executions, containers and statuses against the deployments it
    /// must run, answer `Verified` per host then `VerifyDone`.
    Verify,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Connected(h) => write!(f, "U {h}"),
            Event::Assigned(i, t) => write!(f, "A {i} {t}"),
            Event::Running(i, t) => write!(f, "R {i} {t}"),
            Event::Marked(index) => write!(f, "M {index}"),
            Event::Reconnected(h, t) => write!(f, "K {h} {t}"),
            Event::Verified(h, None) => write!(f, "V {h} ok"),
            // A problem is one line.
            Event::Verified(h, Some(p)) => write!(f, "V {h} {}", p.replace('\n', " ")),
            Event::VerifyDone => write!(f, "VD"),
        }
    }
}

impl FromStr for Event {
    type Err = String;

    fn from_str(line: &str) -> Result<Event, String> {
        let bad = || format!("unknown fleet event {line:?}");
        let mut parts = line.splitn(3, ' ');
        let kind = parts.next().ok_or_else(bad)?;
        let mut num =
            || -> Result<u64, String> { parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad) };
        Ok(match kind {
            "U" => Event::Connected(num()? as usize),
            "A" => Event::Assigned(num()? as usize, num()?),
            "R" => Event::Running(num()? as usize, num()?),
            "M" => Event::Marked(num()?),
            "K" => Event::Reconnected(num()? as usize, num()?),
            "V" => {
                let h = num()? as usize;
                match parts.next().ok_or_else(bad)? {
                    "ok" => Event::Verified(h, None),
                    problem => Event::Verified(h, Some(problem.to_string())),
                }
            }
            "VD" => Event::VerifyDone,
            _ => return Err(bad()),
        })
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Command::Mark => "mark",
            Command::Verify => "verify",
        })
    }
}

impl FromStr for Command {
    type Err = String;

    fn from_str(line: &str) -> Result<Command, String> {
        match line.trim() {
            "mark" => Ok(Command::Mark),
            "verify" => Ok(Command::Verify),
            other => Err(format!("unknown fleet command {other:?}")),
        }
    }
}

/// The jobs host `host` of `agents` must run when `jobs` jobs are deployed round-robin.
pub fn jobs_of_host(host: usize, agents: usize, jobs: usize) -> impl Iterator<Item = usize> {
    (host..jobs).step_by(agents.max(1))
}

/// The number of job name `name` (`<prefix><i>`), if it is one of the benchmark's.
pub fn job_number(name: &str, prefix: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_lines() {
        for e in [
            Event::Connected(7),
            Event::Assigned(99_999, 1_700_000_000_123_456),
            Event::Running(0, 5),
            Event::Marked(123),
            Event::Reconnected(9_999, 42),
            Event::Verified(3, None),
            Event::Verified(4, Some("missing jobs [1, 2]\nand more".into())),
            Event::VerifyDone,
        ] {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line:?} is one line");
            let back: Event = line.parse().unwrap();
            match (&e, &back) {
                (Event::Verified(_, Some(p)), Event::Verified(_, Some(q))) => {
                    assert_eq!(p.replace('\n', " "), *q)
                }
                _ => assert_eq!(back, e),
            }
        }
        assert!("A 1".parse::<Event>().is_err());
        assert!("X 1 2".parse::<Event>().is_err());
        assert_eq!("verify\n".parse::<Command>(), Ok(Command::Verify));
        assert_eq!(
            Command::Mark.to_string().parse::<Command>(),
            Ok(Command::Mark)
        );
    }

    #[test]
    fn jobs_go_round_robin_over_the_hosts() {
        assert_eq!(jobs_of_host(1, 4, 10).collect::<Vec<_>>(), [1, 5, 9]);
        assert_eq!(jobs_of_host(3, 4, 10).collect::<Vec<_>>(), [3, 7]);
        assert_eq!(jobs_of_host(5, 4, 3).count(), 0);
        assert_eq!(job_number("hbsc1j42", "hbsc1j"), Some(42));
        assert_eq!(job_number("hbsc2j42", "hbsc1j"), None);
        assert_eq!(job_number("hbsc1jx", "hbsc1j"), None);
    }
}
