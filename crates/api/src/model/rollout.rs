//! Rolling-update options (Helios's `RolloutOptions`), used in jobs and deployment groups.
//!
//! Every field is optional: `None` means "inherit" from the next source, see
//! [`RolloutOptions::with_fallback`]. A rolling update resolves its options field by field
//! from the request, then the job, then Helios's defaults ([`RolloutOptions::resolve`],
//! Helios's `ZooKeeperMasterModel.rolloutOptionsWithFallback`), and stores the result, every
//! field set, on the deployment group.

use serde::{Deserialize, Serialize};

/// Default seconds a rollout step may take (`RolloutOptions.DEFAULT_TIMEOUT`, 5 minutes).
pub const DEFAULT_ROLLOUT_TIMEOUT: i64 = 300;
/// Default number of hosts updated at once.
pub const DEFAULT_ROLLOUT_PARALLELISM: i32 = 1;
/// Default of `migrate`.
pub const DEFAULT_ROLLOUT_MIGRATE: bool = false;
/// Default of `overlap`.
pub const DEFAULT_ROLLOUT_OVERLAP: bool = false;
/// Default of `token` (Helios's `Job.EMPTY_TOKEN`).
pub const DEFAULT_ROLLOUT_TOKEN: &str = "";
/// Default of `ignoreFailures`.
pub const DEFAULT_ROLLOUT_IGNORE_FAILURES: bool = false;

/// Options of a rolling update; `None` fields inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
        ResolvedRolloutOptions::default().into()
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

    /// The options a rolling update runs with: for each field, the request's value, else the
    /// job's, else Helios's default (request → job → defaults).
    ///
    /// `None` for either source means "sets nothing". (Helios's master throws on a request
    /// whose `rolloutOptions` is `null`; treating it as empty is what its CLI and client
    /// intend, since they always send an object.)
    pub fn resolve(
        request: Option<&RolloutOptions>,
        job: Option<&RolloutOptions>,
    ) -> ResolvedRolloutOptions {
        let none = RolloutOptions::default();
        request
            .unwrap_or(&none)
            .with_fallback(job.unwrap_or(&none))
            .resolved()
    }

    /// These options with Helios's defaults for the unset fields, as the master reads a
    /// deployment group's stored options (for example its step timeout).
    pub fn resolved(&self) -> ResolvedRolloutOptions {
        let d = ResolvedRolloutOptions::default();
        ResolvedRolloutOptions {
            ignore_failures: self.ignore_failures.unwrap_or(d.ignore_failures),
            migrate: self.migrate.unwrap_or(d.migrate),
            overlap: self.overlap.unwrap_or(d.overlap),
            parallelism: self.parallelism.unwrap_or(d.parallelism),
            timeout: self.timeout.unwrap_or(d.timeout),
            token: self.token.clone().unwrap_or(d.token),
        }
    }

    /// The values Helios's CLI prints after starting a rolling update (`Rolling update
    /// started: … (parallelism=…)` and its `--json` keys): each flag given on the command line,
    /// else the field of the job's options **as a whole object** (the defaults only when the
    /// job has no options). Unlike [`RolloutOptions::resolve`], a field the job's options
    /// leave unset stays `None` (Helios prints `null`), a quirk kept for byte-compatible output.
    pub fn cli_effective(cli: &RolloutOptions, job: Option<&RolloutOptions>) -> RolloutOptions {
        match job {
            Some(job) => cli.with_fallback(job),
            None => cli.with_fallback(&RolloutOptions::defaults()),
        }
    }
}

/// Rollout options with every field decided; see [`RolloutOptions::resolve`].
///
/// [`Default`] is Helios's `RolloutOptions.getDefault()`. Converts into a [`RolloutOptions`]
/// with every field set, which is what the master stores on the deployment group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedRolloutOptions {
    /// Log a failing step and go on instead of failing the rollout.
    pub ignore_failures: bool,
    /// Also undeploy deployments of the group's job made outside the group (adopting them).
    pub migrate: bool,
    /// Deploy the new job and wait for it before undeploying the old one.
    pub overlap: bool,
    /// Number of hosts updated at once.
    pub parallelism: i32,
    /// Seconds a step may take (since the previous step completed).
    pub timeout: i64,
    /// Token used for every deploy and undeploy of the rollout.
    pub token: String,
}

impl Default for ResolvedRolloutOptions {
    fn default() -> Self {
        ResolvedRolloutOptions {
            ignore_failures: DEFAULT_ROLLOUT_IGNORE_FAILURES,
            migrate: DEFAULT_ROLLOUT_MIGRATE,
            overlap: DEFAULT_ROLLOUT_OVERLAP,
            parallelism: DEFAULT_ROLLOUT_PARALLELISM,
            timeout: DEFAULT_ROLLOUT_TIMEOUT,
            token: DEFAULT_ROLLOUT_TOKEN.to_string(),
        }
    }
}

impl From<ResolvedRolloutOptions> for RolloutOptions {
    fn from(r: ResolvedRolloutOptions) -> Self {
        RolloutOptions {
            ignore_failures: Some(r.ignore_failures),
            migrate: Some(r.migrate),
            overlap: Some(r.overlap),
            parallelism: Some(r.parallelism),
            timeout: Some(r.timeout),
            token: Some(r.token),
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

    #[test]
    fn defaults_are_helios_get_default() {
        let d = RolloutOptions::defaults();
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"ignoreFailures":false,"migrate":false,"overlap":false,
                               "parallelism":1,"timeout":300,"token":""})
        );
        assert_eq!(
            ResolvedRolloutOptions::default(),
            ResolvedRolloutOptions {
                ignore_failures: false,
                migrate: false,
                overlap: false,
                parallelism: 1,
                timeout: 300,
                token: String::new(),
            }
        );
    }

    /// Options with the fields of `mask` (bit i = field i, in declaration order) set from
    /// `full` and the others `None`.
    fn masked(full: &RolloutOptions, mask: u8) -> RolloutOptions {
        let pick = |bit: u8| mask & (1 << bit) != 0;
        RolloutOptions {
            ignore_failures: full.ignore_failures.filter(|_| pick(0)),
            migrate: full.migrate.filter(|_| pick(1)),
            overlap: full.overlap.filter(|_| pick(2)),
            parallelism: full.parallelism.filter(|_| pick(3)),
            timeout: full.timeout.filter(|_| pick(4)),
            token: full.token.clone().filter(|_| pick(5)),
        }
    }

    #[test]
    fn resolve_takes_request_then_job_then_defaults_for_every_field_combination() {
        // Booleans have two values, so run twice with request/job swapped between true and
        // false: together the runs tell the three sources apart for every field.
        for (req_bool, job_bool) in [(false, true), (true, false)] {
            let req_full = RolloutOptions {
                ignore_failures: Some(req_bool),
                migrate: Some(req_bool),
                overlap: Some(req_bool),
                parallelism: Some(7),
                timeout: Some(11),
                token: Some("req".into()),
            };
            let job_full = RolloutOptions {
                ignore_failures: Some(job_bool),
                migrate: Some(job_bool),
                overlap: Some(job_bool),
                parallelism: Some(5),
                timeout: Some(13),
                token: Some("job".into()),
            };
            let d = RolloutOptions::defaults();
            for req_mask in 0..64u8 {
                for job_mask in 0..64u8 {
                    let req = masked(&req_full, req_mask);
                    let job = masked(&job_full, job_mask);
                    let expected = ResolvedRolloutOptions {
                        ignore_failures: req
                            .ignore_failures
                            .or(job.ignore_failures)
                            .or(d.ignore_failures)
                            .unwrap(),
                        migrate: req.migrate.or(job.migrate).or(d.migrate).unwrap(),
                        overlap: req.overlap.or(job.overlap).or(d.overlap).unwrap(),
                        parallelism: req
                            .parallelism
                            .or(job.parallelism)
                            .or(d.parallelism)
                            .unwrap(),
                        timeout: req.timeout.or(job.timeout).or(d.timeout).unwrap(),
                        token: req
                            .token
                            .clone()
                            .or(job.token.clone())
                            .or(d.token.clone())
                            .unwrap(),
                    };
                    let got = RolloutOptions::resolve(Some(&req), Some(&job));
                    assert_eq!(got, expected, "request {req:?}, job {job:?}");
                    if job_mask == 0 {
                        assert_eq!(RolloutOptions::resolve(Some(&req), None), expected);
                    }
                    if req_mask == 0 {
                        assert_eq!(RolloutOptions::resolve(None, Some(&job)), expected);
                    }
                }
            }
        }
    }

    #[test]
    fn resolve_without_request_or_job_gives_defaults() {
        let empty = RolloutOptions::default();
        for (req, job) in [
            (None, None),
            (Some(&empty), None),
            (None, Some(&empty)),
            (Some(&empty), Some(&empty)),
        ] {
            assert_eq!(
                RolloutOptions::resolve(req, job),
                ResolvedRolloutOptions::default()
            );
        }
    }

    #[test]
    fn resolve_matches_helios_zookeeper_master_model_test() {
        // ZooKeeperMasterModelTest.testRolloutOptionsWithFallback.
        let request = RolloutOptions {
            timeout: Some(123),
            parallelism: Some(2),
            ..RolloutOptions::default()
        };
        let job = RolloutOptions {
            parallelism: Some(2),
            overlap: Some(true),
            token: Some("bar".into()),
            ..RolloutOptions::default()
        };
        let stored: RolloutOptions = RolloutOptions::resolve(Some(&request), Some(&job)).into();
        assert_eq!(
            serde_json::to_value(&stored).unwrap(),
            serde_json::json!({"ignoreFailures":false,"migrate":false,"overlap":true,
                               "parallelism":2,"timeout":123,"token":"bar"})
        );
    }

    #[test]
    fn resolved_fills_unset_fields_with_defaults() {
        let stored = RolloutOptions {
            timeout: Some(60),
            ..RolloutOptions::default()
        };
        let r = stored.resolved();
        assert_eq!(r.timeout, 60);
        assert_eq!(r.parallelism, 1);
        assert_eq!(RolloutOptions::from(r.clone()).resolved(), r);
    }

    #[test]
    fn cli_effective_falls_back_to_the_job_options_as_a_whole() {
        let cli = RolloutOptions {
            parallelism: Some(4),
            ..RolloutOptions::default()
        };
        // No job options: the defaults fill everything the command line left out.
        let none = RolloutOptions::cli_effective(&cli, None);
        assert_eq!(none.parallelism, Some(4));
        assert_eq!(none.timeout, Some(300));
        assert_eq!(none.token.as_deref(), Some(""));
        // Partial job options: their unset fields stay unset (Helios prints null).
        let job = RolloutOptions {
            timeout: Some(30),
            parallelism: Some(9),
            ..RolloutOptions::default()
        };
        let partial = RolloutOptions::cli_effective(&cli, Some(&job));
        assert_eq!(partial.parallelism, Some(4));
        assert_eq!(partial.timeout, Some(30));
        assert_eq!(partial.migrate, None);
        assert_eq!(partial.token, None);
    }

    #[test]
    fn reads_helios_json_leniently() {
        // RolloutOptionsTest: missing ignoreFailures and explicit nulls are "inherit";
        // unknown keys (Helios's own typo "parallalism") are ignored.
        let old: RolloutOptions = serde_json::from_str(
            r#"{"migrate":false,"parallalism":2,"timeout":1000,"overlap":true,"token":"blah"}"#,
        )
        .unwrap();
        assert_eq!(old.ignore_failures, None);
        assert_eq!(old.parallelism, None);
        assert_eq!(old.timeout, Some(1000));
        let nulls: RolloutOptions =
            serde_json::from_str(r#"{"migrate": null, "parallelism": null}"#).unwrap();
        assert_eq!(nulls, RolloutOptions::default());
        // The sample of RolloutOptions.java's javadoc round-trips.
        let sample = serde_json::json!({"migrate":false,"parallelism":2,"timeout":1000,
            "overlap":true,"token":"insecure-access-token","ignoreFailures":false});
        let parsed: RolloutOptions = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), sample);
    }
}
