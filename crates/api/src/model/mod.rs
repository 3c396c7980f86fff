//! Helios's wire types: jobs and their parts, deployments, task and host statuses,
//! deployment groups and their rolling updates, and REST response bodies.
//!
//! Every type serializes to the JSON Helios 0.9 produces (keys camelCase, in Jackson's
//! alphabetical order, `null` fields included unless Helios omits them) and reads what
//! Helios accepts (unknown keys ignored, missing keys defaulted). No I/O happens here.

use serde::{Deserialize, Deserializer};

pub mod date;
pub mod deployment;
pub mod deployment_group;
pub mod deployment_group_responses;
pub mod health_check;
pub mod host;
pub mod host_selector;
pub mod job;
pub mod job_id;
#[cfg(feature = "openapi")]
mod openapi;
pub mod port_mapping;
pub mod resources;
pub mod responses;
pub mod rolling_update_error;
pub mod rollout;
pub mod service;
pub mod task_status;

/// Reads an explicit JSON `null` as the type's default, as Helios's constructors do with
/// `Optional.fromNullable(x).or(EMPTY_X)`.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
