//! Command-line syntax of `helios`, declared with clap's derive API.
//!
//! This module only describes what the user typed: flag names, defaults and
//! environment fallbacks. It does not look up masters (see `target`), talk to
//! them (see `client`) or interpret job specs (see `spec`). Global options are
//! declared with `global = true`, so like Helios's argparse parser they are
//! accepted before or after the sub-command.

use clap::{ArgAction, Args, Parser, Subcommand};

/// Default per-request timeout in seconds (`--http-timeout`).
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 60;
/// Default total retry budget in seconds (`--retry-timeout`).
pub const DEFAULT_RETRY_TIMEOUT_SECS: u64 = 240;

/// The whole command line.
#[derive(Parser, Debug)]
#[command(
    name = "helios",
    about = "Helios CLI: create, deploy and inspect Docker jobs on a Helios cluster",
    disable_version_flag = true,
    subcommand_value_name = "COMMAND",
    subcommand_help_heading = "commands"
)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run; absent only when `--version` is given or the user
    /// typed nothing (then help is printed and the exit code is 1).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options accepted by every command, before or after the command name.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Master endpoint, e.g. http://localhost:5801 (repeatable: several
    /// endpoints of one cluster).
    #[arg(
        short = 'z',
        long = "master",
        value_name = "URL",
        global = true,
        action = ArgAction::Append,
        help_heading = "global options"
    )]
    pub masters: Vec<String>,

    /// User name sent with every request [default: $USER].
    #[arg(
        short = 'u',
        long = "username",
        value_name = "USER",
        global = true,
        help_heading = "global options"
    )]
    pub username: Option<String>,

    /// Increase log verbosity (repeatable).
    #[arg(
        short = 'v',
        long = "verbose",
        global = true,
        action = ArgAction::Count,
        help_heading = "global options"
    )]
    pub verbose: u8,

    /// Print JSON instead of human-readable output.
    #[arg(long = "json", global = true, help_heading = "global options")]
    pub json: bool,

    /// Timeout in seconds of each HTTP request to a master.
    #[arg(
        long = "http-timeout",
        value_name = "SEC",
        env = "HELIOS_CLI_HTTP_TIMEOUT",
        default_value_t = DEFAULT_HTTP_TIMEOUT_SECS,
        global = true,
        help_heading = "global options"
    )]
    pub http_timeout: u64,

    /// Total time in seconds to keep retrying a request on unreachable or
    /// leaderless masters.
    #[arg(
        long = "retry-timeout",
        value_name = "SEC",
        env = "HELIOS_CLI_TOTAL_TIMEOUT",
        default_value_t = DEFAULT_RETRY_TIMEOUT_SECS,
        global = true,
        help_heading = "global options"
    )]
    pub retry_timeout: u64,

    /// Print the client version and exit.
    #[arg(long = "version", global = true, help_heading = "global options")]
    pub version: bool,
}

/// The sub-commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// create a job
    Create(Box<CreateArgs>),
    /// print the configuration of a job
    Inspect(InspectArgs),
    /// list jobs
    Jobs(JobsArgs),
    /// remove a job
    Remove(RemoveArgs),
    /// list masters
    Masters(MastersArgs),
    /// print version of master and client
    Version,
}

/// `helios create`.
#[derive(Args, Debug, Default, Clone)]
pub struct CreateArgs {
    /// Job configuration file ("-" reads stdin). Options specified on the
    /// command line are merged over its contents. Cannot be used together with
    /// -t/--template.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,

    /// Template job id. The new job will be based on this job. Cannot be used
    /// together with -f/--file.
    #[arg(short = 't', long = "template", value_name = "TEMPLATE")]
    pub template: Option<String>,

    /// only print job id
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Job name:version[:hash]
    pub id: Option<String>,

    /// Container image
    pub image: Option<String>,

    /// Command line arguments (put them after `--`)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,

    /// Container hostname
    #[arg(long = "hostname", num_args = 0..=1, default_missing_value = "")]
    pub hostname: Option<String>,

    /// Insecure access token meant to prevent accidental changes to your job
    /// (e.g. undeploys).
    #[arg(long = "token", num_args = 0..=1, default_missing_value = "")]
    pub token: Option<String>,

    /// Environment variables (KEY=VALUE, repeatable)
    #[arg(long = "env", value_name = "ENV", action = ArgAction::Append)]
    pub env: Vec<String>,

    /// Metadata (key-value pairs) to associate with job (repeatable)
    #[arg(short = 'm', long = "metadata", value_name = "METADATA", action = ArgAction::Append)]
    pub metadata: Vec<String>,

    /// Port mapping of the form <name>=[<IP address>:]<internal port>[:<external
    /// port>][/<protocol>] (repeatable). Protocol defaults to tcp.
    #[arg(short = 'p', long = "port", value_name = "PORT", action = ArgAction::Append)]
    pub ports: Vec<String>,

    /// Service discovery registration of the form service[/protocol][=port]
    /// (repeatable). The port may be omitted when the job has exactly one port
    /// mapping.
    #[arg(short = 'r', long = "register", value_name = "REGISTER", action = ArgAction::Append)]
    pub register: Vec<String>,

    /// If set, overrides the default domain in which discovery service
    /// registration occurs.
    #[arg(long = "registration-domain", value_name = "DOMAIN")]
    pub registration_domain: Option<String>,

    /// Seconds to wait after unregistering from service discovery before
    /// stopping the container.
    #[arg(
        long = "grace-period",
        value_name = "SEC",
        allow_negative_numbers = true
    )]
    pub grace_period: Option<i32>,

    /// Container volume: [host-path:]container-path[:ro|rw] (repeatable)
    #[arg(long = "volume", value_name = "VOLUME", action = ArgAction::Append)]
    pub volumes: Vec<String>,

    /// ISO-8601 date/time when this job should expire, e.g. 2014-06-01T12:00:00Z
    #[arg(short = 'e', long = "expires", value_name = "EXPIRES")]
    pub expires: Option<String>,

    /// Run a `docker exec` health check with this command, e.g. "ping google.com"
    #[arg(long = "exec-check", value_name = "COMMAND")]
    pub exec_check: Option<String>,

    /// Run an HTTP health check against a port name and path: <port name>:<path>
    #[arg(long = "http-check", value_name = "PORT:PATH")]
    pub http_check: Option<String>,

    /// Run a TCP health check against a port name
    #[arg(long = "tcp-check", value_name = "PORT")]
    pub tcp_check: Option<String>,

    /// Docker security option (repeatable)
    #[arg(long = "security-opt", value_name = "OPT", action = ArgAction::Append)]
    pub security_opt: Vec<String>,

    /// Container network mode: bridge, host or container:<name|id>
    #[arg(long = "network-mode", value_name = "MODE")]
    pub network_mode: Option<String>,

    /// Linux capability to add to the container (repeatable)
    #[arg(long = "add-capability", value_name = "CAP", action = ArgAction::Append)]
    pub add_capabilities: Vec<String>,

    /// Linux capability to drop from the container (repeatable)
    #[arg(long = "drop-capability", value_name = "CAP", action = ArgAction::Append)]
    pub drop_capabilities: Vec<String>,

    /// Docker container label KEY=VALUE (repeatable)
    #[arg(long = "labels", value_name = "LABEL", action = ArgAction::Append)]
    pub labels: Vec<String>,

    /// Default rolling-update option KEY=VALUE (repeatable); keys: migrate,
    /// parallelism, timeout, overlap, token, ignoreFailures
    #[arg(long = "rollout-options", value_name = "OPTION", action = ArgAction::Append)]
    pub rollout_options: Vec<String>,

    /// Docker runtime, e.g. nvidia
    #[arg(long = "runtime", value_name = "RUNTIME")]
    pub runtime: Option<String>,
}

/// `helios inspect`.
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// Job id.
    pub job: String,
}

/// `helios jobs`.
#[derive(Args, Debug, Clone, Default)]
pub struct JobsArgs {
    /// Job reference to filter on
    pub pattern: Option<String>,
    /// Print full job id's.
    #[arg(short = 'f')]
    pub full: bool,
    /// only print job id's
    #[arg(short = 'q')]
    pub quiet: bool,
    /// only show deployed jobs
    #[arg(short = 'y')]
    pub deployed: bool,
}

/// `helios remove`.
#[derive(Args, Debug, Clone)]
pub struct RemoveArgs {
    /// Job id.
    pub job: String,
    /// Insecure access token
    #[arg(long = "token", num_args = 0..=1, default_value = "", default_missing_value = "")]
    pub token: String,
    /// Automatically answer 'yes' to the interactive prompt.
    #[arg(long = "yes")]
    pub yes: bool,
    /// Deprecated spelling of --yes.
    #[arg(long = "force", hide = true)]
    pub force: bool,
}

/// `helios masters`.
#[derive(Args, Debug, Clone)]
pub struct MastersArgs {
    /// Print full hostnames
    #[arg(short = 'f')]
    pub full: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("helios").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_before_or_after_the_command() {
        let before = parse(&["-z", "http://a:5801", "--json", "jobs"]);
        let after = parse(&["jobs", "-z", "http://a:5801", "--json"]);
        for cli in [before, after] {
            assert_eq!(cli.global.masters, vec!["http://a:5801"]);
            assert!(cli.global.json);
            assert!(matches!(cli.command, Some(Command::Jobs(_))));
        }
    }

    #[test]
    fn repeated_masters_and_verbosity() {
        let cli = parse(&["-z", "http://a", "-z", "http://b", "-vv", "masters"]);
        assert_eq!(cli.global.masters, vec!["http://a", "http://b"]);
        assert_eq!(cli.global.verbose, 2);
        // clap's global options: occurrences after the command replace those
        // before it (Helios's argparse would accumulate them).
        let cli = parse(&["-z", "http://a", "-vv", "masters", "-z", "http://b", "-v"]);
        assert_eq!(cli.global.masters, vec!["http://b"]);
        assert_eq!(cli.global.verbose, 1);
    }

    #[test]
    fn create_command_after_double_dash() {
        let cli = parse(&[
            "create",
            "testjob:1",
            "ubuntu:12.04",
            "--env",
            "FOO=bar",
            "--",
            "/bin/sh",
            "-c",
            "echo $FOO",
        ]);
        let Some(Command::Create(args)) = cli.command else {
            panic!("not create")
        };
        assert_eq!(args.id.as_deref(), Some("testjob:1"));
        assert_eq!(args.image.as_deref(), Some("ubuntu:12.04"));
        assert_eq!(args.env, vec!["FOO=bar"]);
        assert_eq!(args.args, vec!["/bin/sh", "-c", "echo $FOO"]);
    }

    #[test]
    fn create_flags() {
        let cli = parse(&[
            "create",
            "-q",
            "-p",
            "http=80",
            "-p",
            "admin=81:8081/udp",
            "-r",
            "svc=http",
            "--token",
            "abc",
            "-m",
            "a=b",
            "--volume",
            "/data",
            "foo:1",
            "busybox",
            "--json",
        ]);
        assert!(cli.global.json);
        let Some(Command::Create(args)) = cli.command else {
            panic!("not create")
        };
        assert!(args.quiet);
        assert_eq!(args.ports, vec!["http=80", "admin=81:8081/udp"]);
        assert_eq!(args.register, vec!["svc=http"]);
        assert_eq!(args.token.as_deref(), Some("abc"));
        assert_eq!(args.metadata, vec!["a=b"]);
        assert_eq!(args.volumes, vec!["/data"]);
        assert!(args.args.is_empty());
    }

    #[test]
    fn timeouts_default() {
        let cli = parse(&["version"]);
        // The environment of the test process may set these; only check the
        // defaults when it does not.
        if std::env::var_os("HELIOS_CLI_HTTP_TIMEOUT").is_none() {
            assert_eq!(cli.global.http_timeout, DEFAULT_HTTP_TIMEOUT_SECS);
        }
        if std::env::var_os("HELIOS_CLI_TOTAL_TIMEOUT").is_none() {
            assert_eq!(cli.global.retry_timeout, DEFAULT_RETRY_TIMEOUT_SECS);
        }
        let cli = parse(&["version", "--http-timeout", "5", "--retry-timeout", "7"]);
        assert_eq!(cli.global.http_timeout, 5);
        assert_eq!(cli.global.retry_timeout, 7);
    }

    #[test]
    fn remove_token_defaults_to_empty() {
        let cli = parse(&["remove", "foo:1", "--yes"]);
        let Some(Command::Remove(args)) = cli.command else {
            panic!("not remove")
        };
        assert_eq!(args.token, "");
        assert!(args.yes);
    }
}
