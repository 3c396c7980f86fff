//! The `helios.v1.Helios` service: every REST operation, through the same use cases.
//!
//! Forwarding: like the REST gateway, a member that does not lead forwards each RPC to the
//! leader's gRPC endpoint (on the leader's HTTP port) and returns its answer, marked with
//! `x-helios-forwarded` so that it is never forwarded twice. When it cannot (no leader known,
//! the request was already forwarded, the leader is unreachable) it answers `UNAVAILABLE`
//! with `x-helios-leader` naming the leader's HTTP address when one is known, and the client
//! retries there. `Version`, stale reads and `Watch` are answered by the member itself.
//!
//! Helios's objects travel as typed messages, converted to and from the model by
//! `helios_api::convert`; a request message that does not convert is refused with
//! `INVALID_ARGUMENT` naming the field. The conversion keeps every field the job hash covers,
//! so a job created here gets the id it gets over REST.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helios_api::client::{FORWARDED_METADATA, host_state_filter};
use helios_api::v1::helios_client::HeliosClient;
use helios_api::v1::helios_server::Helios;
use helios_api::{
    CreateDeploymentGroupStatus, Deployment, DeploymentGroup, Goal, HostStatus, Job, JobId,
    JobStatus, RemoveDeploymentGroupStatus, RolloutOptions, TaskStatus, v1,
};
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::MAX_MESSAGE;

/// Jobs in one `ListJobs` answer when the request does not say.
const LIST_PAGE_DEFAULT: usize = 1000;
/// The most jobs in one `ListJobs` answer, whatever the request asks.
const LIST_PAGE_MAX: usize = 10_000;
/// A `ListJobs` answer ends before a job that would take it past this size (it always holds
/// one job): under the 4 MiB that gRPC clients accept by default, whatever the jobs' size.
const LIST_PAGE_BYTES: usize = 3 << 20;
use super::error::{from_control, invalid_job, outcome, refusal, status, with_leader};
use super::secrets::{HideSecrets, read_only};
use super::watch::{self, WatchLimit};
use crate::control::deployments::{self, DeployRequest};
use crate::control::jobs::StatusFields;
use crate::control::version::{SERVER_VERSION, check};
use crate::control::{self, Freshness, MemberRole, MemberState, deployment_groups, hosts, jobs};
use crate::exactly_once::WriteKey;
use crate::exactly_once::retry::FORWARD_CONNECT_TIMEOUT;
use crate::node::Node;
use crate::state::ApiRole;

/// The service of one master.
#[derive(Clone)]
pub struct HeliosApi {
    pub(super) node: Node,
    /// Connections to leaders, by HTTP address.
    leaders: Arc<Mutex<HashMap<String, Channel>>>,
    /// Set when the master shuts down: open watches end.
    stop: tokio::sync::watch::Receiver<bool>,
    /// The watches this master serves at once (see [`watch::MAX_WATCHES`]).
    watches: WatchLimit,
}

impl HeliosApi {
    /// The service of the master `app`; watches end when `stop` turns true. It serves at most
    /// [`watch::MAX_WATCHES`] watches at once.
    pub fn new(node: Node, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self::with_watch_limit(node, stop, watch::MAX_WATCHES)
    }

    /// [`HeliosApi::new`] serving at most `max_watches` watches at once.
    pub fn with_watch_limit(
        node: Node,
        stop: tokio::sync::watch::Receiver<bool>,
        max_watches: usize,
    ) -> Self {
        Self {
            node,
            leaders: Arc::default(),
            stop,
            watches: WatchLimit::new(max_watches),
        }
    }

    /// `None` when this member leads (answer here); else a client of the leader.
    fn leader(&self, md: &MetadataMap) -> Result<Option<(HeliosClient<Channel>, String)>, Status> {
        match self.node.leader() {
            Some((id, _)) if id == self.node.id => Ok(None),
            Some((_, node)) if md.contains_key(FORWARDED_METADATA) => Err(with_leader(
                status(
                    "NO_LEADER",
                    "this master was sent a forwarded request but does not lead",
                ),
                Some(&node.http_addr),
            )),
            Some((_, node)) => Ok(Some((self.client_at(&node.http_addr)?, node.http_addr))),
            None => Err(status(
                "NO_LEADER",
                "no leader is known; the masters may be electing one",
            )),
        }
    }

    /// A client of the `Helios` service at `addr` (a leader's HTTP address).
    pub(super) fn client_at(&self, addr: &str) -> Result<HeliosClient<Channel>, Status> {
        Ok(HeliosClient::new(self.channel(addr)?)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE))
    }

    fn channel(&self, addr: &str) -> Result<Channel, Status> {
        let mut leaders = self.leaders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = leaders.get(addr) {
            return Ok(c.clone());
        }
        let tls = &self.node.leader_tls;
        let endpoint = Endpoint::from_shared(format!("{}://{addr}", tls.scheme()))
            .map_err(|e| status("NO_LEADER", format!("bad leader address {addr}: {e}")))?;
        let channel = tls
            .tonic(endpoint)
            .map_err(|e| status("NO_LEADER", format!("TLS settings for the leader: {e:#}")))?
            .connect_timeout(FORWARD_CONNECT_TIMEOUT)
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .connect_lazy();
        leaders.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    /// Adds the leader's address to an `UNAVAILABLE` status, so the client retries there.
    pub(super) fn fail(&self, s: Status) -> Status {
        with_leader(s, self.node.leader().map(|(_, n)| n.http_addr).as_deref())
    }

    /// A use case's error as a status naming the leader when the client should retry there.
    fn failed(&self, e: control::Error) -> Status {
        self.fail(from_control(e))
    }
}

/// The write RPCs as this member, which leads, runs them: decode, call the use case, encode.
impl HeliosApi {
    async fn create_job_here(
        &self,
        key: &WriteKey,
        req: v1::CreateJobRequest,
    ) -> Result<Response<v1::CreateJobResponse>, Status> {
        let job = job_of(req.job)?;
        let resp = jobs::create_job(&self.node, key, job, Some(req.user))
            .await
            .map_err(|e| self.failed(e))?;
        let id = resp.id.unwrap_or_default();
        match resp.status {
            helios_api::CreateJobStatus::Ok => {
                Ok(Response::new(v1::CreateJobResponse { job_id: id }))
            }
            helios_api::CreateJobStatus::JobAlreadyExists => Err(status(
                "JOB_ALREADY_EXISTS",
                format!("job {id} already exists"),
            )),
            _ => Err(invalid_job(
                Some(&id).filter(|i| !i.is_empty()).map(String::as_str),
                &resp.errors,
            )),
        }
    }

    async fn remove_job_here(
        &self,
        key: &WriteKey,
        req: v1::RemoveJobRequest,
    ) -> Result<Response<v1::RemoveJobResponse>, Status> {
        let done = jobs::remove_job(&self.node, key, &req.job_id, req.token).await;
        outcome(done.map_err(|e| self.failed(e))?)?;
        Ok(Response::new(v1::RemoveJobResponse {}))
    }

    async fn register_host_here(
        &self,
        key: &WriteKey,
        req: v1::RegisterHostRequest,
    ) -> Result<Response<v1::RegisterHostResponse>, Status> {
        let done = hosts::register(&self.node, key, &req.host, &req.agent_id).await;
        outcome(done.map_err(|e| self.failed(e))?)?;
        Ok(Response::new(v1::RegisterHostResponse {}))
    }

    async fn deregister_host_here(
        &self,
        key: &WriteKey,
        req: v1::DeregisterHostRequest,
    ) -> Result<Response<v1::DeregisterHostResponse>, Status> {
        let done = hosts::deregister(&self.node, key, &req.host).await;
        let done = done.map_err(|e| self.failed(e))?;
        if done.status == helios_api::HostDeregisterStatus::NotFound {
            // Helios's REST word is NOT_FOUND; gRPC names what was not found, as its other
            // refusals do.
            return Err(status("HOST_NOT_FOUND", done.message));
        }
        outcome(done)?;
        Ok(Response::new(v1::DeregisterHostResponse {}))
    }

    async fn deploy_here(
        &self,
        key: &WriteKey,
        req: v1::DeployRequest,
    ) -> Result<Response<v1::DeployResponse>, Status> {
        let goal = match req.goal() {
            v1::Goal::Unspecified => Goal::Start,
            g => Goal::try_from(g).map_err(|e| status("INVALID_GOAL", e))?,
        };
        let job_id = jobs::full_id(&req.job_id).map_err(from_control)?;
        let req = DeployRequest {
            host: req.host,
            job_id,
            goal,
            user: Some(req.user),
            token: req.token,
            deployment_group_name: None,
        };
        let done = deployments::deploy(&self.node, key, req).await;
        outcome(done.map_err(|e| self.failed(e))?)?;
        Ok(Response::new(v1::DeployResponse {}))
    }

    async fn set_goal_here(
        &self,
        key: &WriteKey,
        req: v1::SetGoalRequest,
    ) -> Result<Response<v1::SetGoalResponse>, Status> {
        let goal = Goal::try_from(req.goal()).map_err(|e| status("INVALID_GOAL", e))?;
        let done =
            deployments::set_goal(&self.node, key, &req.host, &req.job_id, goal, req.token).await;
        outcome(done.map_err(|e| self.failed(e))?)?;
        Ok(Response::new(v1::SetGoalResponse {}))
    }

    async fn undeploy_here(
        &self,
        key: &WriteKey,
        req: v1::UndeployRequest,
    ) -> Result<Response<v1::UndeployResponse>, Status> {
        let done = deployments::undeploy(&self.node, key, &req.host, &req.job_id, req.token).await;
        outcome(done.map_err(|e| self.failed(e))?)?;
        Ok(Response::new(v1::UndeployResponse {}))
    }

    async fn create_api_token_here(
        &self,
        key: &WriteKey,
        req: v1::CreateApiTokenRequest,
    ) -> Result<Response<v1::CreateApiTokenResponse>, Status> {
        let role: ApiRole = req
            .role
            .parse()
            .map_err(|e: String| Status::invalid_argument(e))?;
        let created = control::tokens::create(&self.node, key, &req.name, role)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(v1::CreateApiTokenResponse {
            api_token: Some(v1::ApiToken {
                id: created.id,
                name: created.name,
                role: created.role.to_string(),
                created_ms: created.created,
            }),
            token: created.token,
        }))
    }

    async fn revoke_api_token_here(
        &self,
        key: &WriteKey,
        req: v1::RevokeApiTokenRequest,
    ) -> Result<Response<v1::RevokeApiTokenResponse>, Status> {
        let id = control::tokens::revoke(&self.node, key, &req.id_or_name)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(v1::RevokeApiTokenResponse { id }))
    }

    async fn create_deployment_group_here(
        &self,
        key: &WriteKey,
        req: v1::CreateDeploymentGroupRequest,
    ) -> Result<Response<v1::CreateDeploymentGroupResponse>, Status> {
        let group = group_of(req.deployment_group)?;
        let done = deployment_groups::create(&self.node, key, group).await;
        let done = done.map_err(|e| self.failed(e))?;
        match done.status {
            CreateDeploymentGroupStatus::Created | CreateDeploymentGroupStatus::NotModified => {
                Ok(Response::new(v1::CreateDeploymentGroupResponse {
                    status: v1::CreateDeploymentGroupStatus::from(done.status).into(),
                }))
            }
            CreateDeploymentGroupStatus::Conflict => Err(refusal(done)),
        }
    }

    async fn remove_deployment_group_here(
        &self,
        key: &WriteKey,
        req: v1::RemoveDeploymentGroupRequest,
    ) -> Result<Response<v1::RemoveDeploymentGroupResponse>, Status> {
        let done = deployment_groups::remove(&self.node, key, &req.name).await;
        let done = done.map_err(|e| self.failed(e))?;
        if done.status != RemoveDeploymentGroupStatus::Removed {
            return Err(refusal(done));
        }
        Ok(Response::new(v1::RemoveDeploymentGroupResponse {}))
    }

    async fn rolling_update_here(
        &self,
        key: &WriteKey,
        req: v1::RollingUpdateRequest,
    ) -> Result<Response<v1::RollingUpdateResponse>, Status> {
        let job: JobId = req
            .job_id
            .parse()
            .map_err(|e: helios_api::JobIdParseError| status("INVALID_ID", e.to_string()))?;
        let options = req
            .rollout_options
            .map(RolloutOptions::try_from)
            .transpose()
            .map_err(|e| status("INVALID_ROLLOUT_OPTIONS", e.to_string()))?;
        let done =
            deployment_groups::rolling_update(&self.node, key, &req.name, &job, options).await;
        outcome(done.map_err(|e| self.failed(e))?)?;
        Ok(Response::new(v1::RollingUpdateResponse {}))
    }

    async fn stop_deployment_group_here(
        &self,
        key: &WriteKey,
        req: v1::StopDeploymentGroupRequest,
    ) -> Result<Response<v1::StopDeploymentGroupResponse>, Status> {
        deployment_groups::stop(&self.node, key, &req.name)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(v1::StopDeploymentGroupResponse {}))
    }
}

/// The request as the leader receives it: same metadata (deadline included), marked forwarded.
pub(super) fn forwarded<T>(req: Request<T>) -> Request<T> {
    let (mut md, _, msg) = req.into_parts();
    md.insert(
        FORWARDED_METADATA,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    Request::from_parts(md, Default::default(), msg)
}

/// Runs the RPC at the leader when this member does not lead.
macro_rules! at_leader {
    ($self:ident, $req:ident, $method:ident) => {
        if let Some((mut leader, addr)) = $self.leader($req.metadata())? {
            $self.node.metrics.forwarded.inc();
            return leader
                .$method(forwarded($req))
                .await
                .map_err(|s| with_leader(s, Some(&addr)));
        }
    };
}

/// Runs the write RPC `$name` exactly once (see [`super::write`]): `$here` on this member
/// when it leads, `$method` at the leader's service otherwise.
macro_rules! write_once {
    ($self:ident, $req:ident, $name:literal, $method:ident, $here:ident) => {
        $self
            .write_once(
                $name,
                $req,
                |api, key, req| Box::pin(api.$here(key, req)),
                |mut leader, req| Box::pin(async move { leader.$method(req).await }),
            )
            .await
    };
}

/// The job of a `CreateJobRequest`: `INVALID_ARGUMENT` (`INVALID_JOB_DEFINITION`) naming the
/// field when it is missing or does not convert. The conversion changes no field the job hash
/// covers, so the id is the one REST gives the same job.
pub(super) fn job_of(job: Option<v1::Job>) -> Result<Job, Status> {
    let job = job.ok_or_else(|| status("INVALID_JOB_DEFINITION", "job: missing (required)"))?;
    Job::try_from(job).map_err(|e| status("INVALID_JOB_DEFINITION", e.to_string()))
}

/// The group of a `CreateDeploymentGroupRequest`: `INVALID_ARGUMENT`
/// (`INVALID_DEPLOYMENT_GROUP`) naming the field when it is missing or does not convert.
fn group_of(group: Option<v1::DeploymentGroup>) -> Result<DeploymentGroup, Status> {
    let group = group.ok_or_else(|| {
        status(
            "INVALID_DEPLOYMENT_GROUP",
            "deployment_group: missing (required)",
        )
    })?;
    DeploymentGroup::try_from(group).map_err(|e| status("INVALID_DEPLOYMENT_GROUP", e.to_string()))
}

fn task(host: &str, job_id: &str, d: &Deployment, t: Option<&TaskStatus>) -> v1::Task {
    v1::Task {
        host: host.to_string(),
        job_id: job_id.to_string(),
        goal: v1::Goal::from(d.goal) as i32,
        state: t.map_or(v1::TaskState::Unspecified, |t| t.state.into()) as i32,
        throttled: t.map_or(v1::ThrottleState::Unspecified, |t| t.throttled.into()) as i32,
        container_id: t.and_then(|t| t.container_id.clone()).unwrap_or_default(),
    }
}

fn job_status_response(id: String, js: JobStatus) -> v1::JobStatusResponse {
    let tasks = js
        .deployments
        .iter()
        .map(|(host, d)| task(host, &id, d, js.task_statuses.get(host)))
        .collect();
    v1::JobStatusResponse {
        job_id: id,
        tasks,
        job_status: Some(js.into()),
    }
}

fn host_status_response(host: String, hs: HostStatus) -> v1::HostStatusResponse {
    let tasks = hs
        .jobs
        .iter()
        .map(|(id, d)| task(&host, &id.to_string(), d, hs.statuses.get(id)))
        .collect();
    v1::HostStatusResponse {
        status: v1::HostState::from(hs.status) as i32,
        host,
        tasks,
        host_status: Some(hs.into()),
    }
}

/// `Local` for a stale read, else `Linearizable`.
fn freshness(stale: bool) -> Freshness {
    if stale {
        Freshness::Local
    } else {
        Freshness::Linearizable
    }
}

fn job_entry(id: String, job: crate::state::Versioned<crate::state::StoredJob>) -> v1::JobEntry {
    v1::JobEntry {
        job_id: id,
        create_index: job.create_index,
        job: Some((&job.value.job()).into()),
    }
}

#[tonic::async_trait]
impl Helios for HeliosApi {
    async fn create_job(
        &self,
        req: Request<v1::CreateJobRequest>,
    ) -> Result<Response<v1::CreateJobResponse>, Status> {
        write_once!(self, req, "CreateJob", create_job, create_job_here)
    }

    async fn get_job(
        &self,
        req: Request<v1::GetJobRequest>,
    ) -> Result<Response<v1::JobEntry>, Status> {
        if !req.get_ref().stale {
            at_leader!(self, req, get_job);
        }
        let hide = read_only(&req);
        let req = req.into_inner();
        let found = jobs::job(&self.node, &req.job_id, freshness(req.stale)).await;
        let (id, job) = found.map_err(|e| self.failed(e))?;
        Ok(Response::new(job_entry(id, job).shown(hide)))
    }

    async fn list_jobs(
        &self,
        req: Request<v1::ListJobsRequest>,
    ) -> Result<Response<v1::ListJobsResponse>, Status> {
        if !req.get_ref().stale {
            at_leader!(self, req, list_jobs);
        }
        let hide = read_only(&req);
        let req = req.into_inner();
        let page_size = match req.page_size {
            0 => LIST_PAGE_DEFAULT,
            n => (n as usize).min(LIST_PAGE_MAX),
        };
        let after = (!req.page_token.is_empty()).then_some(req.page_token);
        let found = jobs::jobs(
            &self.node,
            &req.query,
            &req.host_pattern,
            after,
            freshness(req.stale),
        )
        .await
        .map_err(|e| self.failed(e))?;
        let (mut jobs, mut bytes, mut more) = (Vec::new(), 0, false);
        for (id, job) in found {
            let entry = job_entry(id, job).shown(hide);
            let len = prost::Message::encoded_len(&entry);
            if jobs.len() == page_size || (!jobs.is_empty() && bytes + len > LIST_PAGE_BYTES) {
                more = true;
                break;
            }
            bytes += len;
            jobs.push(entry);
        }
        let next_page_token = match jobs.last() {
            Some(last) if more => last.job_id.clone(),
            _ => String::new(),
        };
        Ok(Response::new(v1::ListJobsResponse {
            jobs,
            next_page_token,
        }))
    }

    async fn remove_job(
        &self,
        req: Request<v1::RemoveJobRequest>,
    ) -> Result<Response<v1::RemoveJobResponse>, Status> {
        write_once!(self, req, "RemoveJob", remove_job, remove_job_here)
    }

    async fn job_status(
        &self,
        req: Request<v1::JobStatusRequest>,
    ) -> Result<Response<v1::JobStatusResponse>, Status> {
        at_leader!(self, req, job_status);
        let hide = read_only(&req);
        let (id, js) = jobs::job_status(&self.node, &req.into_inner().job_id)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(job_status_response(id, js).shown(hide)))
    }

    async fn job_statuses(
        &self,
        req: Request<v1::JobStatusesRequest>,
    ) -> Result<Response<v1::JobStatusesResponse>, Status> {
        at_leader!(self, req, job_statuses);
        let hide = read_only(&req);
        let found = jobs::job_statuses(&self.node, &req.get_ref().job_ids, StatusFields::All)
            .await
            .map_err(|e| self.failed(e))?;
        let statuses = found
            .map(|(id, js)| job_status_response(id, js.decoded()).shown(hide))
            .collect();
        Ok(Response::new(v1::JobStatusesResponse { statuses }))
    }

    async fn job_history(
        &self,
        req: Request<v1::JobHistoryRequest>,
    ) -> Result<Response<v1::JobHistoryResponse>, Status> {
        at_leader!(self, req, job_history);
        let hide = read_only(&req);
        let id = req.into_inner().job_id;
        let history = jobs::job_history(&self.node, &id)
            .await
            .map_err(|e| self.failed(e))?;
        if history.status == helios_api::TaskStatusEventsStatus::JobIdNotFound {
            return Err(status("JOB_ID_NOT_FOUND", format!("no job {id}")));
        }
        let events: Vec<v1::TaskStatusEvent> = history.events.into_iter().map(Into::into).collect();
        Ok(Response::new(v1::JobHistoryResponse {
            events: events.shown(hide),
        }))
    }

    async fn list_hosts(
        &self,
        req: Request<v1::ListHostsRequest>,
    ) -> Result<Response<v1::ListHostsResponse>, Status> {
        at_leader!(self, req, list_hosts);
        let req = req.into_inner();
        let hosts = hosts::hosts(&self.node, &req.name_pattern, &req.selectors)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(v1::ListHostsResponse { hosts }))
    }

    async fn register_host(
        &self,
        req: Request<v1::RegisterHostRequest>,
    ) -> Result<Response<v1::RegisterHostResponse>, Status> {
        write_once!(self, req, "RegisterHost", register_host, register_host_here)
    }

    async fn deregister_host(
        &self,
        req: Request<v1::DeregisterHostRequest>,
    ) -> Result<Response<v1::DeregisterHostResponse>, Status> {
        write_once!(
            self,
            req,
            "DeregisterHost",
            deregister_host,
            deregister_host_here
        )
    }

    async fn host_status(
        &self,
        req: Request<v1::HostStatusRequest>,
    ) -> Result<Response<v1::HostStatusResponse>, Status> {
        at_leader!(self, req, host_status);
        let hide = read_only(&req);
        let req = req.into_inner();
        let filter = host_state_filter(req.status_filter());
        let hs = hosts::host_status(&self.node, &req.host, filter)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(
            host_status_response(req.host, hs).shown(hide),
        ))
    }

    async fn host_statuses(
        &self,
        req: Request<v1::HostStatusesRequest>,
    ) -> Result<Response<v1::HostStatusesResponse>, Status> {
        at_leader!(self, req, host_statuses);
        let hide = read_only(&req);
        let req = req.into_inner();
        let filter = host_state_filter(req.status_filter());
        let found = hosts::host_statuses(&self.node, &req.hosts, filter)
            .await
            .map_err(|e| self.failed(e))?;
        let statuses = found
            .into_iter()
            .map(|(host, hs)| host_status_response(host, hs).shown(hide))
            .collect();
        Ok(Response::new(v1::HostStatusesResponse { statuses }))
    }

    async fn deploy(
        &self,
        req: Request<v1::DeployRequest>,
    ) -> Result<Response<v1::DeployResponse>, Status> {
        write_once!(self, req, "Deploy", deploy, deploy_here)
    }

    async fn get_deployment(
        &self,
        req: Request<v1::GetDeploymentRequest>,
    ) -> Result<Response<v1::DeploymentResponse>, Status> {
        at_leader!(self, req, get_deployment);
        let req = req.into_inner();
        let d = deployments::deployment(&self.node, &req.host, &req.job_id)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(v1::DeploymentResponse {
            goal: v1::Goal::from(d.goal) as i32,
            host: req.host,
            job_id: d.job_id.to_string(),
            deployment: Some(d.into()),
        }))
    }

    async fn set_goal(
        &self,
        req: Request<v1::SetGoalRequest>,
    ) -> Result<Response<v1::SetGoalResponse>, Status> {
        write_once!(self, req, "SetGoal", set_goal, set_goal_here)
    }

    async fn undeploy(
        &self,
        req: Request<v1::UndeployRequest>,
    ) -> Result<Response<v1::UndeployResponse>, Status> {
        write_once!(self, req, "Undeploy", undeploy, undeploy_here)
    }

    async fn list_masters(
        &self,
        req: Request<v1::ListMastersRequest>,
    ) -> Result<Response<v1::ListMastersResponse>, Status> {
        at_leader!(self, req, list_masters);
        let all = req.get_ref().all;
        let members = control::member_statuses(&self.node, all)
            .await
            .map_err(|e| self.failed(e))?;
        // Sorted by name, then id, as `member_statuses` returns them.
        let masters = members
            .into_iter()
            .map(|m| v1::Master {
                id: m.id,
                name: m.name,
                http_addr: m.http_address,
                cluster_addr: m.cluster_address,
                leader: m.role == MemberRole::Leader,
                role: match m.role {
                    MemberRole::Leader => v1::MasterRole::Leader,
                    MemberRole::Follower => v1::MasterRole::Follower,
                    MemberRole::Learner => v1::MasterRole::Learner,
                } as i32,
                up: m.state == MemberState::Up,
                millis_since_ack: m.millis_since_ack,
                term: m.term,
                match_index: m.match_index,
                lag: m.lag,
            })
            .collect();
        Ok(Response::new(v1::ListMastersResponse { masters }))
    }

    async fn create_api_token(
        &self,
        req: Request<v1::CreateApiTokenRequest>,
    ) -> Result<Response<v1::CreateApiTokenResponse>, Status> {
        write_once!(
            self,
            req,
            "CreateApiToken",
            create_api_token,
            create_api_token_here
        )
    }

    async fn list_api_tokens(
        &self,
        req: Request<v1::ListApiTokensRequest>,
    ) -> Result<Response<v1::ListApiTokensResponse>, Status> {
        let freshness = freshness(req.get_ref().stale);
        if !req.get_ref().stale {
            at_leader!(self, req, list_api_tokens);
        }
        let api_tokens = control::tokens::list(&self.node, freshness)
            .await
            .map_err(|e| self.failed(e))?
            .into_iter()
            .map(|t| v1::ApiToken {
                id: t.id,
                name: t.name,
                role: t.role.to_string(),
                created_ms: t.created_ms,
            })
            .collect();
        Ok(Response::new(v1::ListApiTokensResponse { api_tokens }))
    }

    async fn revoke_api_token(
        &self,
        req: Request<v1::RevokeApiTokenRequest>,
    ) -> Result<Response<v1::RevokeApiTokenResponse>, Status> {
        write_once!(
            self,
            req,
            "RevokeApiToken",
            revoke_api_token,
            revoke_api_token_here
        )
    }

    async fn add_master(
        &self,
        req: Request<v1::AddMasterRequest>,
    ) -> Result<Response<v1::MembershipChangeResponse>, Status> {
        at_leader!(self, req, add_master);
        let r = req.into_inner();
        let new = control::members::NewMember {
            name: r.name,
            cluster_address: r.cluster_address,
            http_address: r.http_address,
        };
        let added = control::members::add_member(&self.node, new)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(membership_change(added)))
    }

    async fn remove_master(
        &self,
        req: Request<v1::RemoveMasterRequest>,
    ) -> Result<Response<v1::MembershipChangeResponse>, Status> {
        at_leader!(self, req, remove_master);
        let removed = control::members::remove_member(&self.node, &req.get_ref().name)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(membership_change(removed)))
    }

    async fn version(
        &self,
        req: Request<v1::VersionRequest>,
    ) -> Result<Response<v1::VersionResponse>, Status> {
        let client = req.into_inner().client_version;
        let compatibility = check(Some(client.as_str()).filter(|c| !c.is_empty()));
        Ok(Response::new(v1::VersionResponse {
            server_version: SERVER_VERSION.to_string(),
            compatibility: compatibility.as_str().to_string(),
        }))
    }

    async fn create_deployment_group(
        &self,
        req: Request<v1::CreateDeploymentGroupRequest>,
    ) -> Result<Response<v1::CreateDeploymentGroupResponse>, Status> {
        write_once!(
            self,
            req,
            "CreateDeploymentGroup",
            create_deployment_group,
            create_deployment_group_here
        )
    }

    async fn remove_deployment_group(
        &self,
        req: Request<v1::RemoveDeploymentGroupRequest>,
    ) -> Result<Response<v1::RemoveDeploymentGroupResponse>, Status> {
        write_once!(
            self,
            req,
            "RemoveDeploymentGroup",
            remove_deployment_group,
            remove_deployment_group_here
        )
    }

    async fn list_deployment_groups(
        &self,
        req: Request<v1::ListDeploymentGroupsRequest>,
    ) -> Result<Response<v1::ListDeploymentGroupsResponse>, Status> {
        at_leader!(self, req, list_deployment_groups);
        let names = deployment_groups::list(&self.node)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(v1::ListDeploymentGroupsResponse { names }))
    }

    async fn get_deployment_group(
        &self,
        req: Request<v1::GetDeploymentGroupRequest>,
    ) -> Result<Response<v1::GetDeploymentGroupResponse>, Status> {
        at_leader!(self, req, get_deployment_group);
        let group = deployment_groups::get(&self.node, &req.get_ref().name)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(v1::GetDeploymentGroupResponse {
            deployment_group: Some(group.into()),
        }))
    }

    async fn deployment_group_status(
        &self,
        req: Request<v1::DeploymentGroupStatusRequest>,
    ) -> Result<Response<v1::DeploymentGroupStatusResponse>, Status> {
        at_leader!(self, req, deployment_group_status);
        let found = deployment_groups::status(&self.node, &req.get_ref().name)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Response::new(found.into()))
    }

    async fn rolling_update(
        &self,
        req: Request<v1::RollingUpdateRequest>,
    ) -> Result<Response<v1::RollingUpdateResponse>, Status> {
        write_once!(
            self,
            req,
            "RollingUpdate",
            rolling_update,
            rolling_update_here
        )
    }

    async fn stop_deployment_group(
        &self,
        req: Request<v1::StopDeploymentGroupRequest>,
    ) -> Result<Response<v1::StopDeploymentGroupResponse>, Status> {
        write_once!(
            self,
            req,
            "StopDeploymentGroup",
            stop_deployment_group,
            stop_deployment_group_here
        )
    }

    type WatchStream = watch::WatchStream;

    async fn watch(
        &self,
        req: Request<v1::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let permit = self.watches.acquire()?;
        let hide = read_only(&req);
        let stream = watch::start(
            self.node.clone(),
            req.into_inner(),
            self.stop.clone(),
            permit,
        )?;
        if !hide {
            return Ok(Response::new(stream));
        }
        let hidden = tokio_stream::StreamExt::map(stream, |r| r.map(|w| w.shown(true)));
        Ok(Response::new(Box::pin(hidden)))
    }
}

/// A membership change as gRPC answers it.
fn membership_change(c: control::members::MembershipChange) -> v1::MembershipChangeResponse {
    v1::MembershipChangeResponse {
        status: c.status.to_string(),
        name: c.name,
        id: c.id,
        voters: c.voters,
    }
}
