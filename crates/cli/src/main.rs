//! `helios`: the command-line client of a Helios cluster.
//!
//! It behaves like Spotify Helios's CLI (same commands, flags, output, JSON
//! and exit codes) and reaches masters only through their REST API.
//!
//! Code map:
//! * [`args`]: the command line (clap).
//! * [`target`]: which masters to talk to (flags, `~/.helios/config`,
//!   `HELIOS_MASTER`, and Helios's precedence among them).
//! * [`lookup`]: finding those masters on the network (DNS SRV, host names).
//! * [`credentials`]: which API token to send.
//! * [`client`]: the REST client, with retries over a cluster's masters.
//! * [`spec`]: parsers for `create`'s port, registration, volume… specs.
//! * [`selector`]: host selector expressions (`hosts -s`).
//! * [`commands`]: one module per sub-command.
//! * [`output`]: pure renderers for tables, JSON and job descriptions.
//!
//! Exit codes: 0 on success, 1 on any failure (argument errors included),
//! except a failed `undeploy`, which exits 255 (Helios returns -1).
//! Normal output goes to stdout, error messages to stderr as one line.

mod args;
mod client;
mod commands;
mod credentials;
mod lookup;
mod output;
mod selector;
mod spec;
mod streamed;
mod target;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::client::{CLIENT_VERSION, ClientConfig, TlsOptions, TlsOptionsFiles};
use crate::commands::{Context, Masters};
use crate::lookup::Lookup;
use crate::target::{
    CliConfig, ConfigProblem, HELIOS_MASTER_ENV, MasterSources, NO_MASTERS_MESSAGE, TargetError,
    resolve_targets,
};

/// jemalloc instead of glibc's malloc (see `Cargo.toml`): large listings allocate and free
/// many small values and big buffers.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Lines Helios prints on stderr before every argument error.
const ARGPARSE_ERROR_HEADER: [&str; 3] = [
    "# Report improvements/bugs at https://github.com/spotify/helios/issues",
    "# For documentation see https://github.com/spotify/helios/tree/master/docs",
    "# ---------------------------------------------------------------",
];

fn main() -> ExitCode {
    let code = run();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Parses the command line, finds the masters and runs the command.
fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return report_parse_error(&e),
    };
    if cli.global.version {
        println!("Helios CLI {CLIENT_VERSION}");
        return 0;
    }
    let Some(command) = cli.command else {
        // Helios prints the help and fails when given nothing to do.
        let _ = Cli::command().print_help();
        return 1;
    };
    if let Command::Completions(args) = &command {
        let mut cmd = Cli::command();
        clap_complete::generate(args.shell, &mut cmd, "helios", &mut io::stdout());
        return 0;
    }
    let user = user_config();
    let sources = MasterSources {
        explicit_endpoints: cli.global.masters.clone(),
        domains: cli.global.domains.clone(),
        srv_name: cli.global.srv_name.clone(),
        config: user.config.clone(),
    };
    let problems = [
        (user.file_problem, sources.file_needed(user.env_applied)),
        (user.env_problem, sources.env_needed()),
    ];
    for (problem, needed) in problems {
        match problem {
            Some(problem) if needed => {
                eprintln!("{problem}");
                return 1;
            }
            Some(problem) => {
                eprintln!("Warning: {problem} (not needed: the command line chooses the masters)");
            }
            None => {}
        }
    }
    let specs = match resolve_targets(&sources) {
        Ok(specs) => specs,
        Err(TargetError::NoMasters) => {
            argparse_error(NO_MASTERS_MESSAGE);
            return 1;
        }
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let env_token = std::env::var(credentials::API_TOKEN_ENV).ok();
    let api_token = match credentials::api_token(
        cli.global.api_token_file.as_deref(),
        env_token,
        &user.config,
    ) {
        Ok(token) => token,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let files = &user.config.tls;
    let tls = match TlsOptions::load(
        cli.global.insecure,
        TlsOptionsFiles {
            ca: cli.global.tls_ca.as_deref().or(files.ca.as_deref()),
            cert: cli.global.tls_cert.as_deref().or(files.cert.as_deref()),
            key: cli.global.tls_key.as_deref().or(files.key.as_deref()),
        },
    ) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let config = ClientConfig {
        api_token,
        user: cli.global.username.clone().unwrap_or_else(default_username),
        http_timeout: Duration::from_secs(cli.global.http_timeout),
        retry_timeout: Duration::from_secs(cli.global.retry_timeout),
        verbose: cli.global.verbose,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Failed to start the async runtime: {e}");
            return 1;
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut ctx = Context {
        out: &mut out,
        stdin: &mut input,
        json: cli.global.json,
        terminal: io::stdout().is_terminal(),
    };
    let lookup = Lookup::from_env(cli.global.dns_server);
    let masters = Masters {
        specs: &specs,
        lookup: &lookup,
        tls,
    };
    runtime.block_on(commands::run_on(
        &command,
        &masters,
        &config,
        &mut ctx,
        &mut io::stderr(),
    ))
}

/// The configuration file and `HELIOS_MASTER`, merged.
struct UserConfig {
    /// `~/.helios/config` with a valid `HELIOS_MASTER` applied.
    config: CliConfig,
    /// A valid `HELIOS_MASTER` replaced the file's masters and domains.
    env_applied: bool,
    /// The file could not be read or parsed (it then counts as empty).
    file_problem: Option<ConfigProblem>,
    /// `HELIOS_MASTER` is invalid (it is then ignored).
    env_problem: Option<ConfigProblem>,
}

/// Reads `$HOME/.helios/config` and applies `HELIOS_MASTER`; an empty
/// `HELIOS_MASTER` counts as unset.
fn user_config() -> UserConfig {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from);
    let (file, file_problem) = match CliConfig::load(home.as_deref()) {
        Ok(file) => (file, None),
        Err(e) => (CliConfig::default(), Some(e)),
    };
    let env = std::env::var(HELIOS_MASTER_ENV)
        .ok()
        .filter(|v| !v.is_empty());
    match env.map(|value| file.with_helios_master(&value)) {
        Some(Ok(config)) => UserConfig {
            config,
            env_applied: true,
            file_problem,
            env_problem: None,
        },
        Some(Err(e)) => UserConfig {
            config: file,
            env_applied: false,
            file_problem,
            env_problem: Some(e),
        },
        None => UserConfig {
            config: file,
            env_applied: false,
            file_problem,
            env_problem: None,
        },
    }
}

/// Prints a clap error the way Helios prints argparse errors; help and
/// version requests go to stdout and succeed.
fn report_parse_error(error: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                1
            } else {
                0
            }
        }
        _ => {
            let mut err = io::stderr().lock();
            for line in ARGPARSE_ERROR_HEADER {
                let _ = writeln!(err, "{line}");
            }
            let _ = write!(err, "{}", error.render());
            1
        }
    }
}

/// Prints an argparse-style error: Helios's header, the usage line and
/// `helios: error: <message>`.
fn argparse_error(message: &str) {
    let mut err = io::stderr().lock();
    for line in ARGPARSE_ERROR_HEADER {
        let _ = writeln!(err, "{line}");
    }
    let usage = Cli::command().render_usage().to_string();
    let _ = writeln!(err, "{}", usage.trim_end());
    let _ = writeln!(err, "helios: error: {message}");
}

/// `$USER`, else `$LOGNAME`, else the name of the process's uid in
/// `/etc/passwd` (what Java's `user.name` gives), else `unknown`.
fn default_username() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(name) = std::env::var(var)
            && !name.is_empty()
        {
            return name;
        }
    }
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    uid.and_then(|uid| user_for_uid(&passwd, uid))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The user name of `uid` in `/etc/passwd` text.
fn user_for_uid(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let id: u32 = fields.next()?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(user_for_uid(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_for_uid(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(user_for_uid(passwd, 5), None);
        assert_eq!(user_for_uid("garbage", 0), None);
    }
}
