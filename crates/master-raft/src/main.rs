//! The `helios-master` binary: parses flags, sets up logging, runs a master, or runs one of
//! its commands (`join-token`).

use std::path::Path;

use anyhow::Context;
use clap::Parser;
use helios_api::http_client::{TlsOptions, TlsOptionsFiles};
use helios_master_raft::config::{Args, MasterCommand};
use helios_master_raft::server;

/// jemalloc instead of glibc's malloc, whose bookkeeping (`malloc_consolidate`) was a third of
/// the leader's CPU under write load; see `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let result = match args.command.clone() {
        Some(MasterCommand::JoinToken {
            role,
            rotate,
            master,
            api_token_file,
        }) => {
            let file =
                api_token_file.unwrap_or_else(|| args.data_dir.join(server::ADMIN_TOKEN_FILE));
            let tls = TlsOptions::load(
                false,
                TlsOptionsFiles {
                    ca: args.tls_ca.as_deref(),
                    cert: args.tls_cert.as_deref(),
                    key: args.tls_key.as_deref(),
                },
            );
            match tls {
                Ok(tls) => join_token(&role, rotate, &master, &file, &tls).await,
                Err(e) => Err(anyhow::anyhow!(e)),
            }
        }
        Some(MasterCommand::Restore { from }) => {
            let mut args = args;
            args.command = None;
            args.into_config().and_then(|cfg| {
                let header = helios_master_raft::restore::seed(&cfg, &from)?;
                println!(
                    "restored cluster {} at index {} (backup of {} by {}) into {}; start \
                         this master with the same flags, then add the others",
                    header.cluster_id,
                    header.index,
                    header.created_ms,
                    header.master,
                    cfg.data_dir.display()
                );
                Ok(())
            })
        }
        None => {
            helios_logging::init(args.log_json, "info,openraft=warn");
            match args.into_config() {
                Ok(cfg) => server::run(cfg, server::shutdown_signal()).await,
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = result {
        eprintln!("helios-master: {e:#}");
        if e.downcast_ref::<server::RemovedFromCluster>().is_some() {
            std::process::exit(server::REMOVED_EXIT_STATUS);
        }
        std::process::exit(1);
    }
}

/// Prints the join token of `role` (after rotating it, with `rotate`), asked of the master at
/// `master` with the admin token in `HELIOS_API_TOKEN` or else in `token_file`.
async fn join_token(
    role: &str,
    rotate: bool,
    master: &str,
    token_file: &Path,
    tls: &TlsOptions,
) -> anyhow::Result<()> {
    let admin = match std::env::var("HELIOS_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        Some(token) => token.trim().to_string(),
        None => std::fs::read_to_string(token_file)
            .with_context(|| {
                format!(
                    "cannot read an admin API token from {} (give --api-token-file or \
                     HELIOS_API_TOKEN)",
                    token_file.display()
                )
            })?
            .trim()
            .to_string(),
    };
    let base = master.trim_end_matches('/');
    let client = tls
        .apply(reqwest::Client::builder())
        .build()
        .context("building the HTTP client")?;
    let request = if rotate {
        client.post(format!("{base}/join-tokens/{role}/rotate"))
    } else {
        client.get(format!("{base}/join-tokens/{role}"))
    };
    let response = request
        .bearer_auth(admin)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("cannot reach the master at {base}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match body["token"].as_str() {
        Some(token) if status.is_success() => {
            println!("{token}");
            Ok(())
        }
        _ => anyhow::bail!(
            "the master answered {status}: {}",
            body["message"].as_str().unwrap_or("no message")
        ),
    }
}
