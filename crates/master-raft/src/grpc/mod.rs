//! The public gRPC API `helios.v1` (DESIGN §8, `proto/helios.proto`) on the HTTP port.
//!
//! [`router`] gives an axum router of the gRPC services, to be merged with the REST gateway's
//! router: the gRPC paths (`/helios.v1.Helios/…`, `/grpc.health.v1.Health/…`,
//! `/grpc.reflection.v1.ServerReflection/…`, `/grpc.reflection.v1alpha.ServerReflection/…`)
//! never collide with Helios's REST paths, and HTTP/2 (gRPC's h2c prior knowledge) is served
//! by `axum::serve` next to HTTP/1.1. The router has no fallback, so merging keeps the
//! gateway's JSON 404, and it carries none of the gateway's layers (version headers, body
//! buffering), which REST alone needs.
//!
//! * [`service`]: the `Helios` service. A follower forwards each RPC to the leader's gRPC
//!   endpoint (the same HTTP address REST forwards to); when it cannot, it answers
//!   `UNAVAILABLE` with `x-helios-leader` and the client retries there.
//! * [`watch`]: the `Watch` stream, served by the member it is opened on.
//! * [`error`]: the one mapping of Helios refusals to gRPC codes.
//! * [`secrets`]: secret env values hidden from tokens that may only read.
//! * health (`grpc.health.v1`): `""` is SERVING while the process runs; `helios.v1.Helios` is
//!   SERVING while a leader is known, NOT_SERVING otherwise.
//! * reflection v1 and v1alpha, for `grpcurl` without .proto files.

pub mod error;
pub mod secrets;
pub mod service;
pub mod watch;
mod write;

use axum::Router;
use helios_api::v1::helios_server::HeliosServer;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tracing::warn;

use crate::node::Node;
pub use service::HeliosApi;

/// Largest gRPC message accepted or sent (a large job list or host status).
pub const MAX_MESSAGE: usize = 64 << 20;

/// The name under which the health service reports the `Helios` service.
pub const SERVICE_NAME: &str = <HeliosServer<HeliosApi> as NamedService>::NAME;

/// The gRPC services of a master as an axum router, to merge with the REST gateway's:
/// `gateway::router(node.clone())?.merge(grpc::router(node.clone(), stop_rx.clone()))`.
///
/// Open watches end when `stop` turns true, so the HTTP server's graceful shutdown is not held
/// up by them. Must be called inside a tokio runtime (it starts the health tracker).
pub fn router(node: Node, stop: tokio::sync::watch::Receiver<bool>) -> Router {
    let helios = HeliosServer::new(HeliosApi::new(node.clone(), stop.clone()))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let (reporter, health) = tonic_health::server::health_reporter();
    node.tasks.spawn(track_leader(node.clone(), reporter, stop));

    let mut router = Router::new()
        .route_service(&path(SERVICE_NAME), helios)
        .route_service(&path(service_name(&health)), health);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(helios_api::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    match reflection().build_v1() {
        Ok(v1) => router = router.route_service(&path(service_name(&v1)), v1),
        Err(e) => warn!("gRPC reflection v1 is not served: {e}"),
    }
    match reflection().build_v1alpha() {
        Ok(v1alpha) => router = router.route_service(&path(service_name(&v1alpha)), v1alpha),
        Err(e) => warn!("gRPC reflection v1alpha is not served: {e}"),
    }
    router
}

fn service_name<S: NamedService>(_: &S) -> &'static str {
    S::NAME
}

/// The route of every method of a gRPC service, as tonic's own router makes it.
fn path(service: &str) -> String {
    format!("/{service}/{{*rest}}")
}

/// Keeps the health of the `Helios` service in step with whether a leader is known.
async fn track_leader(
    node: Node,
    reporter: tonic_health::server::HealthReporter,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut leaders = node.leader.clone();
    let mut last = None;
    loop {
        // The leader's id, from the channel this loop waits on: its member record may reach
        // this member's membership later, and no change of the channel would follow it.
        let serving = if leaders.borrow_and_update().is_some() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if last != Some(serving) {
            reporter.set_service_status(SERVICE_NAME, serving).await;
            last = Some(serving);
        }
        tokio::select! {
            changed = leaders.changed() => if changed.is_err() { break },
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    reporter
        .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
        .await;
}
