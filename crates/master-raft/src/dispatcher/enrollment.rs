//! The `Enrollment` service of the cluster port (`proto/agent.proto`): the CA certificate for
//! anyone, a certificate for whoever shows a current join token (issue 13), and a renewed one
//! for an agent that shows its certificate. Served by every master, the first two without a
//! client certificate; the checks are in
//! [`crate::control::enrollment`].

use std::time::Duration;

use helios_api::pb;
use helios_api::pb::enrollment_server::Enrollment;
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::control::{self, enrollment};
use crate::node::Node;

/// The service of one master.
#[derive(Clone)]
pub struct EnrollmentService {
    node: Node,
    /// How long issued certificates are valid.
    validity: Duration,
}

impl EnrollmentService {
    /// The service of `node`, issuing certificates valid for `validity`.
    pub fn new(node: Node, validity: Duration) -> Self {
        EnrollmentService { node, validity }
    }
}

fn status(e: control::Error) -> Status {
    match e {
        control::Error::Invalid { message, .. } => Status::invalid_argument(message),
        control::Error::Denied { message, .. } => Status::permission_denied(message),
        control::Error::NotFound { message, .. } => Status::failed_precondition(message),
        other => Status::unavailable(other.to_string()),
    }
}

#[tonic::async_trait]
impl Enrollment for EnrollmentService {
    async fn get_ca(
        &self,
        _request: Request<pb::GetCaRequest>,
    ) -> Result<Response<pb::GetCaReply>, Status> {
        match enrollment::ca_pem(&self.node).map_err(status)? {
            Some(ca_pem) => Ok(Response::new(pb::GetCaReply { ca_pem })),
            None => Err(Status::unavailable("this master has no CA yet")),
        }
    }

    async fn issue(
        &self,
        request: Request<pb::IssueRequest>,
    ) -> Result<Response<pb::IssueReply>, Status> {
        let peer = request
            .remote_addr()
            .map_or_else(String::new, |a| a.to_string());
        let r = request.into_inner();
        match enrollment::issue(
            &self.node,
            &r.join_token,
            &r.name,
            &r.sans,
            &r.csr_pem,
            self.validity,
        ) {
            Ok((chain_pem, ca_pem)) => {
                info!(%peer, name = %r.name, "issued a cluster-port certificate");
                Ok(Response::new(pb::IssueReply { chain_pem, ca_pem }))
            }
            Err(e) => {
                warn!(%peer, name = %r.name, "refusing a certificate: {e}");
                Err(status(e))
            }
        }
    }

    async fn renew(
        &self,
        request: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::IssueReply>, Status> {
        let caller = super::peer::require(&request, helios_pki::Role::Agent)?;
        let r = request.into_inner();
        match enrollment::renew(&self.node, &caller, &r.csr_pem, self.validity).await {
            Ok((chain_pem, ca_pem)) => {
                info!(identity = %caller, "renewed an agent's cluster-port certificate");
                Ok(Response::new(pb::IssueReply { chain_pem, ca_pem }))
            }
            Err(e) => {
                warn!(identity = %caller, "refusing to renew a certificate: {e}");
                Err(status(e))
            }
        }
    }
}
