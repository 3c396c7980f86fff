//! Who is calling on the cluster port (issue 13): with security on, every call but enrollment
//! comes with a client certificate from the cluster's CA (the TLS layer checked the
//! signature and expiry), whose role and name this module reads and checks.

use helios_pki::{Identity, Role};
use tonic::{Request, Status};
use tracing::warn;

/// The identity in the caller's certificate: `Err` (logged, with the caller's address and
/// whatever its certificate says) when it has none or not one of `role`.
pub fn require<T>(req: &Request<T>, role: Role) -> Result<Identity, Status> {
    let addr = req
        .remote_addr()
        .map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
    let Some(certs) = req.peer_certs() else {
        warn!(peer = %addr, needed = %role, "refusing a cluster-port call without a client certificate");
        return Err(Status::unauthenticated(format!(
            "the cluster port needs a client certificate of the cluster (role {role}); get one \
             with a join token"
        )));
    };
    let identity = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("no client certificate"))
        .and_then(|leaf| {
            Identity::of(leaf.as_ref()).map_err(|e| Status::permission_denied(e.to_string()))
        });
    match identity {
        Ok(id) if id.role == role => Ok(id),
        Ok(id) => {
            warn!(peer = %addr, identity = %id, needed = %role, "refusing a cluster-port call");
            Err(Status::permission_denied(format!(
                "a certificate of {id} may not make this call (it needs the role {role})"
            )))
        }
        Err(status) => {
            warn!(peer = %addr, needed = %role, "refusing a cluster-port call: {}", status.message());
            Err(status)
        }
    }
}

/// A tonic interceptor that lets only masters call (the Raft service).
pub fn require_master(req: Request<()>) -> Result<Request<()>, Status> {
    require(&req, Role::Master).map(|_| req)
}
