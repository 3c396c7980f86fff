//! The `helios-master` binary: parses flags, sets up logging, runs a master.

use clap::Parser;
use helios_master_raft::config::Args;
use helios_master_raft::server;

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HELIOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    init_logging(args.log_json);
    let result = match args.into_config() {
        Ok(cfg) => server::run(cfg, server::shutdown_signal()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("helios-master: {e:#}");
        std::process::exit(1);
    }
}
