//! Write RPCs, exactly once: the gRPC side of [`crate::exactly_once`].
//!
//! A write RPC gets its idempotency key from the metadata `idempotency-key` (or a new one),
//! and its fingerprint from the request message's type and content ([`Fingerprint`]). [`HeliosApi::write_once`]
//! then runs it through [`retry::run`]: here when this member leads, else at the leader,
//! retried with the same key. `UNAVAILABLE` promises that nothing was written;
//! `DEADLINE_EXCEEDED` with `x-helios-status: UNKNOWN_OUTCOME` says the write may have been.

use futures::future::BoxFuture;
use helios_api::client::{FORWARDED_METADATA, STATUS_METADATA};
use helios_api::v1::{self, helios_client::HeliosClient};
use prost::Message;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use super::error::{from_node, status, with_leader};
use super::service::{HeliosApi, forwarded};
use crate::exactly_once::retry::{self, Attempt, Route, Transport};
use crate::exactly_once::{IDEMPOTENCY_KEY, WriteKey};
use crate::node::NodeError;
use helios_api::idempotency::UNKNOWN_OUTCOME;

/// What identifies a write request for its idempotency key: the same request must give the
/// same bytes on every attempt, whichever member decodes it.
pub trait Fingerprint {
    /// The request's identity, as bytes.
    fn fingerprint(&self) -> Vec<u8>;
}

/// The protobuf encoding, for requests without map fields: prost writes the fields of such a
/// message in one order, so the encoding of a decoded request is always the same.
macro_rules! encoded_fingerprint {
    ($($req:ty),* $(,)?) => {$(
        impl Fingerprint for $req {
            fn fingerprint(&self) -> Vec<u8> {
                self.encode_to_vec()
            }
        }
    )*};
}

encoded_fingerprint!(
    v1::RemoveJobRequest,
    v1::RegisterHostRequest,
    v1::DeregisterHostRequest,
    v1::DeployRequest,
    v1::SetGoalRequest,
    v1::UndeployRequest,
    v1::CreateDeploymentGroupRequest,
    v1::RemoveDeploymentGroupRequest,
    v1::RollingUpdateRequest,
    v1::StopDeploymentGroupRequest,
    v1::CreateApiTokenRequest,
    v1::RevokeApiTokenRequest,
);

/// A job's maps (env, ports, labels…) are `HashMap`s in the decoded message, which prost
/// encodes in the map's random iteration order: a retry of the same request, decoded again,
/// would encode differently. The model's maps and sets are sorted, so the fingerprint is the
/// model's JSON (with the user); a job that does not convert is refused anyway, by its
/// encoding.
impl Fingerprint for v1::CreateJobRequest {
    fn fingerprint(&self) -> Vec<u8> {
        let job = self.job.clone().map(helios_api::Job::try_from);
        match job {
            Some(Ok(job)) => {
                serde_json::to_vec(&(&job, &self.user)).unwrap_or_else(|_| self.encode_to_vec())
            }
            _ => self.encode_to_vec(),
        }
    }
}

/// A write RPC's answer.
type Answer<Resp> = Result<Response<Resp>, Status>;

/// Runs a write on this member, which leads, with its key.
pub type Here<Req, Resp> =
    for<'a> fn(&'a HeliosApi, &'a WriteKey, Req) -> BoxFuture<'a, Answer<Resp>>;

/// Sends a write to the leader's `Helios` service.
pub type There<Req, Resp> =
    fn(HeliosClient<Channel>, Request<Req>) -> BoxFuture<'static, Answer<Resp>>;

impl HeliosApi {
    /// Runs the write RPC `method` exactly once: `here` when this member leads, `there` at the
    /// leader, retried with the request's idempotency key until it has an answer.
    pub(super) async fn write_once<Req, Resp>(
        &self,
        method: &'static str,
        req: Request<Req>,
        here: Here<Req, Resp>,
        there: There<Req, Resp>,
    ) -> Answer<Resp>
    where
        Req: Fingerprint + Clone + Send + Sync + 'static,
        Resp: Send + 'static,
    {
        let (mut metadata, _, message) = req.into_parts();
        let sent = metadata.get(IDEMPOTENCY_KEY).map(|v| v.as_bytes());
        let key = WriteKey::for_request(sent, &[method.as_bytes(), &message.fingerprint()])
            .map_err(|problem| status("INVALID_IDEMPOTENCY_KEY", problem))?;
        // A key is visible ASCII, so it always parses as metadata.
        if let Ok(value) = key.key.parse() {
            metadata.insert(IDEMPOTENCY_KEY, value);
        }
        let forwarded = metadata.contains_key(FORWARDED_METADATA);
        let transport = GrpcWrite {
            api: self,
            metadata,
            message,
            key,
            here,
            there,
        };
        retry::run(&self.node, forwarded, transport).await
    }
}

/// One write RPC, run here or at the leader as often as [`retry::run`] asks.
struct GrpcWrite<'a, Req, Resp> {
    api: &'a HeliosApi,
    metadata: MetadataMap,
    message: Req,
    key: WriteKey,
    here: Here<Req, Resp>,
    there: There<Req, Resp>,
}

impl<Req, Resp> Transport for GrpcWrite<'_, Req, Resp>
where
    Req: Clone + Send + Sync + 'static,
    Resp: Send + 'static,
{
    type Answer = Answer<Resp>;

    async fn attempt(&mut self, route: Route) -> Attempt<Answer<Resp>> {
        match route {
            Route::Here => classify((self.here)(self.api, &self.key, self.message.clone()).await),
            Route::Leader(addr) => {
                let leader = match self.api.client_at(&addr) {
                    Ok(leader) => leader,
                    Err(s) => return Attempt::NotProposed(Err(s)),
                };
                self.api.node.metrics.forwarded.inc();
                let req = Request::from_parts(
                    self.metadata.clone(),
                    Default::default(),
                    self.message.clone(),
                );
                match (self.there)(leader, forwarded(req)).await {
                    Err(s) if !s.metadata().contains_key(STATUS_METADATA) => lost_call(s, &addr),
                    answer => classify(answer.map_err(|s| with_leader(s, Some(&addr)))),
                }
            }
            Route::Nowhere(why) => {
                Attempt::NotProposed(Err(self.api.fail(status("NO_LEADER", why))))
            }
        }
    }

    fn stopped(&self, reason: &str) -> Answer<Resp> {
        Err(from_node(NodeError::Fatal(reason.to_string())))
    }

    fn unknown_outcome(&self, detail: &str) -> Answer<Resp> {
        Err(from_node(NodeError::UnknownOutcome {
            key: Some(self.key.key.clone()),
            detail: detail.to_string(),
        }))
    }
}

/// What a master's answer says about its write: `UNAVAILABLE` promises nothing was proposed,
/// `UNKNOWN_OUTCOME` that it may have been; anything else is the answer.
fn classify<Resp>(answer: Answer<Resp>) -> Attempt<Answer<Resp>> {
    match answer {
        Err(s)
            if s.metadata()
                .get(STATUS_METADATA)
                .is_some_and(|w| w == UNKNOWN_OUTCOME) =>
        {
            Attempt::Unknown(format!("the leader answered: {}", s.message()))
        }
        Err(s) if s.code() == Code::Unavailable => Attempt::NotProposed(Err(s)),
        answer => Attempt::Answer(answer),
    }
}

/// A forwarded call that failed in transport, without an answer from the leader. Only a
/// failure to connect (tonic's `ConnectError` in the status's sources) proves the call never
/// left; any other failure may have reached the leader.
fn lost_call<Resp>(s: Status, addr: &str) -> Attempt<Answer<Resp>> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&s);
    let mut not_sent = false;
    while let Some(e) = source {
        not_sent |= e.is::<tonic::ConnectError>();
        source = e.source();
    }
    if not_sent {
        Attempt::NotProposed(Err(with_leader(
            status(
                "NO_LEADER",
                format!("cannot reach the leader at {addr}: {}", s.message()),
            ),
            Some(addr),
        )))
    } else {
        Attempt::Unknown(format!(
            "the leader at {addr} did not answer: {}",
            s.message()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::{Job, JobId, PortMapping};

    /// The same request, decoded twice (its maps in two random orders), has one fingerprint.
    #[test]
    fn a_create_job_request_has_one_fingerprint_whatever_its_map_order() {
        let mut job = Job::new(JobId::new("web", "1"), "nginx");
        for i in 0..32 {
            job.env.insert(format!("VAR{i}"), i.to_string());
            job.ports.insert(format!("p{i}"), PortMapping::of(1000 + i));
        }
        let req = v1::CreateJobRequest {
            job: Some(job.into()),
            user: "alice".into(),
        };
        let wire = req.encode_to_vec();
        let fingerprints: std::collections::BTreeSet<Vec<u8>> = (0..8)
            .map(|_| v1::CreateJobRequest::decode(wire.as_slice()).unwrap())
            .map(|r| r.fingerprint())
            .collect();
        assert_eq!(fingerprints.len(), 1);
        let other_user = v1::CreateJobRequest {
            user: "bob".into(),
            ..req.clone()
        };
        assert_ne!(other_user.fingerprint(), req.fingerprint());
    }
}
