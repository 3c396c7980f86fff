//! The `helios-master` binary: parses flags, sets up logging, runs a master.

use clap::Parser;
use helios_master_raft::config::Args;
use helios_master_raft::server;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    helios_logging::init(args.log_json, "info,openraft=warn");
    let result = match args.into_config() {
        Ok(cfg) => server::run(cfg, server::shutdown_signal()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("helios-master: {e:#}");
        std::process::exit(1);
    }
}
