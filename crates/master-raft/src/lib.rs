//! `helios-master`: one member of the replicated Helios master.
//!
//! A master is an openraft member ([`raft`]) whose state machine is the Helios cluster state
//! ([`state`]), stored by `helios-store` in sled, and which serves Helios's REST API
//! ([`gateway`]). [`server`] wires them together; [`config`] holds the command-line flags.

pub mod config;
pub mod dispatcher;
pub mod gateway;
pub mod metrics;
pub mod raft;
pub mod server;
pub mod state;
