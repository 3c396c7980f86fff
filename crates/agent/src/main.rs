//! The `helios-agent` binary: parses flags, sets up logging, runs an agent until SIGINT or
//! SIGTERM. Any error at start (bad flag, state dir locked) is one line on stderr and exit
//! status 1.

use clap::Parser;
use helios_agent::Args;

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            fail(text.lines().next().unwrap_or("bad arguments"));
        }
    };
    let log_json = args.log_json;
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => fail(&format!("{e:#}")),
    };
    helios_logging::init(log_json, "info");
    if let Err(e) = helios_agent::run(config, helios_agent::shutdown_signal()).await {
        fail(&format!("{e:#}"));
    }
}
