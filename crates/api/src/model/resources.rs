//! Container resource limits (Helios's `Resources`); every field is optional.

use serde::{Deserialize, Serialize};

/// Limits passed to `docker create`. Helios does no resource accounting with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Relative CPU weight (`--cpu-shares`).
    #[serde(default)]
    pub cpu_shares: Option<i64>,
    /// CPUs the container may use, such as `0-3` (`--cpuset-cpus`).
    #[serde(default)]
    pub cpuset: Option<String>,
    /// Memory limit in bytes.
    #[serde(default)]
    pub memory: Option<i64>,
    /// Memory plus swap limit in bytes.
    #[serde(default)]
    pub memory_swap: Option<i64>,
}
