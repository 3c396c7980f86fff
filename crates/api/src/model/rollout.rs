//! Rolling-update options (Helios's `RolloutOptions`), used in jobs and deployment groups.
//!
//! Every field is optional: `None` means "inherit" from the next source, see
//! [`RolloutOptions::with_fallback`].

use serde::{Deserialize, Serialize};

/// Options of a rolling update; `None` fields inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutOptions {
    /// Keep going when a host fails to converge.
    #[serde(default)]
    pub ignore_failures: Option<bool>,
    /// Leave the old job's deployments in place instead of undeploying them.
    #[serde(default)]
    pub migrate: Option<bool>,
    /// Deploy the new job before undeploying the old one on each host.
    #[serde(default)]
    pub overlap: Option<bool>,
    /// Number of hosts updated at once.
    #[serde(default)]
    pub parallelism: Option<i32>,
    /// Seconds a host may take to reach RUNNING.
    #[serde(default)]
    pub timeout: Option<i64>,
    /// Token of the jobs being deployed.
    #[serde(default)]
    pub token: Option<String>,
}

impl RolloutOptions {
    /// Helios's `RolloutOptions.getDefault()`: timeout 300 s, parallelism 1, everything
    /// else off, token `""`.
    pub fn defaults() -> RolloutOptions {
        RolloutOptions {
            ignore_failures: Some(false),
            migrate: Some(false),
            overlap: Some(false),
            parallelism: Some(1),
            timeout: Some(300),
            token: Some(String::new()),
        }
    }

    /// Field-wise first non-`None` of `self` and `other`.
    pub fn with_fallback(&self, other: &RolloutOptions) -> RolloutOptions {
        RolloutOptions {
            ignore_failures: self.ignore_failures.or(other.ignore_failures),
            migrate: self.migrate.or(other.migrate),
            overlap: self.overlap.or(other.overlap),
            parallelism: self.parallelism.or(other.parallelism),
            timeout: self.timeout.or(other.timeout),
            token: self.token.clone().or_else(|| other.token.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_takes_first_present_value() {
        let own = RolloutOptions {
            parallelism: Some(3),
            migrate: Some(true),
            ..RolloutOptions::default()
        };
        let merged = own.with_fallback(&RolloutOptions::defaults());
        assert_eq!(merged.parallelism, Some(3));
        assert_eq!(merged.migrate, Some(true));
        assert_eq!(merged.timeout, Some(300));
        assert_eq!(merged.token.as_deref(), Some(""));
    }

    #[test]
    fn serializes_nulls_in_alphabetical_order() {
        let json = serde_json::to_string(&RolloutOptions::default()).unwrap();
        assert_eq!(
            json,
            r#"{"ignoreFailures":null,"migrate":null,"overlap":null,"parallelism":null,"timeout":null,"token":null}"#
        );
    }
}
