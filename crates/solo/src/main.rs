//! `helios-solo`: the quickest way to try Helios in Rust. One process runs a one-member master
//! (REST on 127.0.0.1:5801, cluster port 127.0.0.1:5802) and an agent on the local Docker
//! engine labelled `solo=yes`, with all data under `./helios-data`. It prints what to type
//! next, and stops both cleanly on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use helios_agent::AgentConfig;
use helios_master_raft::config::Args as MasterArgs;
use tokio::sync::watch;

/// A one-member Helios master and an agent on the local Docker engine.
#[derive(Debug, Parser)]
#[command(name = "helios-solo", version, about)]
struct Args {
    /// Where the master's store and the agent's state live.
    #[arg(long, env = "HELIOS_DATA_DIR", default_value = "helios-data")]
    data_dir: PathBuf,

    /// Listen address of the HTTP API.
    #[arg(long, env = "HELIOS_HTTP", default_value = "127.0.0.1:5801")]
    http: SocketAddr,

    /// Listen address of the cluster port (the agent connects to it).
    #[arg(long, env = "HELIOS_CLUSTER", default_value = "127.0.0.1:5802")]
    cluster: SocketAddr,

    /// The agent's host name (default: this machine's).
    #[arg(long, env = "HELIOS_NAME")]
    name: Option<String>,

    /// Docker endpoint (default: `$DOCKER_HOST` or the local socket).
    #[arg(long, env = "HELIOS_DOCKER")]
    docker: Option<String>,

    /// Host ports for dynamic port mappings, `START:END` (end exclusive).
    #[arg(long, env = "HELIOS_PORT_RANGE", default_value = "20000:32768")]
    port_range: String,
}

#[tokio::main]
async fn main() {
    helios_logging::init(false, "warn");
    if let Err(e) = run(Args::parse()).await {
        eprintln!("helios-solo: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let master_args = MasterArgs::try_parse_from([
        "helios-master".to_string(),
        "--id=1".into(),
        "--name=solo".into(),
        format!("--data-dir={}", args.data_dir.join("master").display()),
        format!("--http={}", args.http),
        format!("--cluster={}", args.cluster),
    ])
    .context("master flags")?;
    let master_cfg = master_args.into_config()?;

    let name = args
        .name
        .clone()
        .unwrap_or_else(helios_agent::config::host_name);
    let mut agent_cfg = AgentConfig::new(name.clone(), args.data_dir.join("agent"));
    agent_cfg.masters = vec![args.cluster.to_string()];
    agent_cfg.labels.insert("solo".into(), "yes".into());
    agent_cfg.port_range = helios_agent::PortRange::parse(&args.port_range)?;
    if let Some(d) = &args.docker {
        agent_cfg.docker_host = d.clone();
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // The master owns its ports before the agent dials it: bound here, served by the master.
    let listeners = helios_master_raft::server::Listeners::bind(&master_cfg).await?;
    let mut master = tokio::spawn(helios_master_raft::server::serve(
        master_cfg,
        listeners,
        stopped(stop_rx.clone()),
    ));
    let agent = helios_agent::Agent::start(agent_cfg)
        .await
        .context("agent")?;

    let url = format!("http://{}", args.http);
    println!("helios-solo is running: master {url}, agent '{name}' (label solo=yes)");
    println!("data in {}", args.data_dir.display());
    println!();
    println!("Try it (in another shell):");
    println!("  export HELIOS=\"helios -z {url}\"");
    println!("  $HELIOS create hello:1 <image> -- <command>");
    println!("  $HELIOS deploy hello:1 {name}");
    println!("  $HELIOS status --job hello:1");
    println!("  $HELIOS undeploy hello:1 {name} --yes   # then: $HELIOS remove hello:1 --yes");
    println!();
    println!("Ctrl-C stops helios-solo; running containers are stopped only by undeploy.");

    // Until Ctrl-C, or until the master fails (its store is locked by another helios-solo, its
    // Raft core stopped): then the agent stops too and the error is reported.
    tokio::select! {
        () = helios_master_raft::server::shutdown_signal() => {}
        ended = &mut master => {
            agent.shutdown().await;
            ended?.context("master")?;
            anyhow::bail!("the master stopped on its own");
        }
    }
    let _ = stop_tx.send(true);
    agent.shutdown().await;
    master.await?.context("master")
}
