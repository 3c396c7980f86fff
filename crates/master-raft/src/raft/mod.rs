//! openraft glue: the type configuration, the tonic network between masters, the RPC service
//! that receives it, and cluster formation.

pub mod bootstrap;
pub mod leader;
pub mod network;
pub mod service;
pub mod tenure;
pub mod tls;
pub mod types;

/// Generated code of `proto/raft.proto`.
pub mod pb {
    #![allow(missing_docs)]
    tonic::include_proto!("helios.raft.v1");
}
