//! Hosts: register, deregister, list, and the status of a host (its deployments and the task
//! statuses its agent reported).

use std::collections::BTreeMap;

use helios_api::{
    HostDeregisterStatus, HostRegisterStatus, HostSelector, HostStatus, JobId, Status,
};

use super::{Error, Outcome, pattern};
use crate::exactly_once::WriteKey;
use crate::node::Node;
use crate::state::{Command, CommandResult, Host, State, Versioned};

/// Registers the host `host` with the agent id `id` (stamped with the leader's clock);
/// `INVALID_ID` when either is empty.
pub async fn register(
    node: &Node,
    key: &WriteKey,
    host: &str,
    id: &str,
) -> Result<Outcome<HostRegisterStatus>, Error> {
    if id.is_empty() || host.is_empty() {
        return Ok(Outcome::new(
            HostRegisterStatus::InvalidId,
            "a host name and an agent id are required",
        ));
    }
    let command = Command::RegisterHost {
        name: host.to_string(),
        id: id.to_string(),
        now_ms: node.clock.now_ms(),
    };
    match node.write_keyed(key, command).await? {
        CommandResult::Ok => Ok(Outcome::new(
            HostRegisterStatus::Ok,
            format!("registered host {host}"),
        )),
        other => Err(Error::Unexpected(other)),
    }
}

/// Removes the host with its deployments, statuses and history.
pub async fn deregister(
    node: &Node,
    key: &WriteKey,
    host: &str,
) -> Result<Outcome<HostDeregisterStatus>, Error> {
    let command = Command::DeregisterHost {
        name: host.to_string(),
        now_ms: node.clock.now_ms(),
    };
    match node.write_keyed(key, command).await? {
        CommandResult::Ok => Ok(Outcome::new(
            HostDeregisterStatus::Ok,
            format!("deregistered host {host}"),
        )),
        CommandResult::HostNotFound => Ok(Outcome::new(
            HostDeregisterStatus::NotFound,
            format!("no host {host}"),
        )),
        other => Err(Error::Unexpected(other)),
    }
}

/// Parses the `UP`/`DOWN` filter of a host status request (empty: no filter).
pub fn status_filter(raw: &str) -> Result<Option<Status>, Error> {
    match raw {
        "" => Ok(None),
        "UP" => Ok(Some(Status::Up)),
        "DOWN" => Ok(Some(Status::Down)),
        other => Err(Error::invalid(
            "INVALID_STATUS",
            format!("status must be UP or DOWN, not {other:?}"),
        )),
    }
}

/// Registered host names (UP or DOWN) matching the regular expression `name_pattern` (when
/// not empty) and every label selector; in name order.
pub async fn hosts(
    node: &Node,
    name_pattern: &str,
    selectors: &[String],
) -> Result<Vec<String>, Error> {
    let name_pattern = pattern(name_pattern, "INVALID_PATTERN", "namePattern")?;
    let selectors = selectors
        .iter()
        .map(|s| s.parse::<HostSelector>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid("INVALID_HOST_SELECTOR", e.to_string()))?;
    Ok(node
        .read(|s| {
            hosts_matching(s, name_pattern.as_ref(), &selectors)
                .map(|(name, _)| name.clone())
                .collect()
        })
        .await?)
}

/// The registered hosts (UP or DOWN) whose name matches `pattern` and whose labels match every
/// selector; in name order.
pub fn hosts_matching<'a>(
    s: &'a State,
    pattern: Option<&'a regex::Regex>,
    selectors: &'a [HostSelector],
) -> impl Iterator<Item = (&'a String, &'a Host)> + 'a {
    s.hosts
        .iter()
        .filter(move |(name, _)| pattern.is_none_or(|p| p.is_match(name)))
        .filter(move |(_, h)| selectors.iter().all(|sel| sel.matches(&h.labels)))
}

/// The status of one host in `s` as Helios shows it, if registered and matching `filter`.
pub fn status_of(s: &State, name: &str, filter: Option<Status>) -> Option<HostStatus> {
    let host = s.hosts.get(name)?;
    let status = if host.up { Status::Up } else { Status::Down };
    if filter.is_some_and(|f| f != status) {
        return None;
    }
    let jobs = by_job_id(s.deployments.get(name), |_, d| d.clone());
    let statuses = by_job_id(s.task_statuses.get(name), |id, t| s.task_status(id, t));
    Some(HostStatus {
        agent_info: host.agent_info.clone(),
        environment: host.env.clone(),
        host_info: host.host_info.clone(),
        jobs,
        labels: host.labels.clone(),
        status,
        statuses,
    })
}

/// One host's objects, made by `value(job id, stored object)`, keyed by parsed job id (keys
/// that do not parse are left out: the state only holds full ids).
fn by_job_id<T, V>(
    objects: Option<&BTreeMap<String, Versioned<T>>>,
    value: impl Fn(&str, &T) -> V,
) -> BTreeMap<JobId, V> {
    objects
        .into_iter()
        .flatten()
        .filter_map(|(id, v)| Some((id.parse::<JobId>().ok()?, value(id, &v.value))))
        .collect()
}

/// The status of one host; `HOST_NOT_FOUND` when it is not registered or does not match
/// `filter`.
pub async fn host_status(
    node: &Node,
    host: &str,
    filter: Option<Status>,
) -> Result<HostStatus, Error> {
    node.read(|s| status_of(s, host, filter))
        .await?
        .ok_or_else(|| Error::not_found("HOST_NOT_FOUND", format!("no host {host}")))
}

/// The statuses of the hosts named; unknown or filtered-out hosts are left out.
pub async fn host_statuses(
    node: &Node,
    hosts: &[String],
    filter: Option<Status>,
) -> Result<BTreeMap<String, HostStatus>, Error> {
    Ok(node
        .read(|s| {
            hosts
                .iter()
                .filter_map(|n| Some((n.clone(), status_of(s, n, filter)?)))
                .collect()
        })
        .await?)
}
