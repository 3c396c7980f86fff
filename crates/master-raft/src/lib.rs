//! `helios-master`: one member of the replicated Helios master.
//!
//! A master is an openraft member ([`raft`]) whose state machine is the Helios cluster state
//! ([`state`]), stored by `helios-store` in sled, and which serves Helios's REST API
//! ([`gateway`]) and the public gRPC API `helios.v1` ([`grpc`]) on the same HTTP port, both
//! built on the shared use cases of [`control`]. The leader also does the housekeeping
//! ([`housekeeping`]): expired jobs, dead agents, and runs rolling updates
//! ([`rollout_engine`]). [`server`] wires them together; [`config`]
//! holds the command-line flags; [`certificates`] keeps this master's own cluster-port
//! certificate (security on); [`http_tls`] serves the HTTP port over TLS when asked;
//! [`restore`] seeds a new cluster from a backup (`helios backup`).

pub mod certificates;
pub mod clock;
pub mod config;
pub mod control;
pub mod dispatcher;
pub mod dns;
pub mod exactly_once;
pub mod gateway;
pub mod grpc;
pub mod housekeeping;
pub mod http_tls;
pub mod metrics;
pub mod node;
pub mod raft;
pub mod restore;
pub mod rollout_engine;
pub mod server;
pub mod state;
