//! Command-line syntax of `helios`, declared with clap's derive API.
//!
//! This module only describes what the user typed: flag names, defaults and
//! environment fallbacks. It does not look up masters (see `target`), talk to
//! them (see `client`) or interpret job specs (see `spec`). Global options are
//! declared with `global = true`, so like Helios's argparse parser they are
//! accepted before or after the sub-command.

use std::net::SocketAddr;

use clap::{ArgAction, Args, Parser, Subcommand};
use clap_complete::Shell;

/// Default per-request timeout in seconds (`--http-timeout`).
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 60;
/// Default total retry budget in seconds (`--retry-timeout`).
pub const DEFAULT_RETRY_TIMEOUT_SECS: u64 = 240;

/// Help heading of the options that choose the masters.
const MASTERS: &str = "master selection";
/// Help heading of the other global options.
const GLOBAL: &str = "global options";

/// Printed after the options in `--help`: where masters come from when no flag names them.
const AFTER_HELP: &str = "\
Masters are chosen by the first of: -z; -d; masterEndpoints, then domains, in
~/.helios/config, a JSON object such as
  {\"masterEndpoints\": [\"http://master1:5801\"], \"domains\": [\"example.com\"], \"srvName\": \"helios\"}
The HELIOS_MASTER environment variable (http://HOST:PORT, https://HOST:PORT or
domain://DOMAIN) replaces the file's masters and domains. A broken file or HELIOS_MASTER is
only a warning when -z (or -d with --srv-name) already chooses the masters.
-d looks up the DNS SRV records _<srv-name>._https.<DOMAIN>, then _<srv-name>._http.<DOMAIN>
(formats from HELIOS_HTTPS_SRV_FORMAT and HELIOS_HTTP_SRV_FORMAT, default _%s._https.%s and
_%s._http.%s).";

/// The whole command line.
#[derive(Parser, Debug)]
#[command(
    name = "helios",
    about = "Helios CLI: create, deploy and inspect Docker jobs on a Helios cluster",
    after_help = AFTER_HELP,
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
    /// endpoints of one cluster; a host name means each of its addresses).
    #[arg(
        short = 'z',
        long = "master",
        value_name = "URL",
        global = true,
        action = ArgAction::Append,
        help_heading = MASTERS
    )]
    pub masters: Vec<String>,

    /// Find the masters of DOMAIN through DNS SRV records (repeatable or a
    /// comma list: one cluster per domain).
    #[arg(
        short = 'd',
        long = "domains",
        value_name = "DOMAIN",
        global = true,
        action = ArgAction::Append,
        help_heading = MASTERS
    )]
    pub domains: Vec<String>,

    /// SRV service name for -d [default: the config file's srvName, else helios].
    #[arg(
        long = "srv-name",
        value_name = "NAME",
        global = true,
        help_heading = MASTERS
    )]
    pub srv_name: Option<String>,

    /// DNS server for -d lookups [default: the system's, from /etc/resolv.conf].
    #[arg(
        long = "dns-server",
        value_name = "HOST:PORT",
        env = helios_discovery::DNS_SERVER_ENV,
        value_parser = helios_discovery::parse_dns_server,
        global = true,
        help_heading = MASTERS
    )]
    pub dns_server: Option<SocketAddr>,

    /// User name sent with every request [default: $USER].
    #[arg(
        short = 'u',
        long = "username",
        value_name = "USER",
        global = true,
        help_heading = GLOBAL
    )]
    pub username: Option<String>,

    /// Increase log verbosity (repeatable).
    #[arg(
        short = 'v',
        long = "verbose",
        global = true,
        action = ArgAction::Count,
        help_heading = GLOBAL
    )]
    pub verbose: u8,

    /// Print JSON instead of human-readable output.
    #[arg(long = "json", global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// Do not verify the TLS certificates of https:// masters (like curl -k).
    #[arg(short = 'k', long = "insecure", global = true, help_heading = GLOBAL)]
    pub insecure: bool,

    /// Trust this CA (PEM) for https masters, besides the system's [default: the config
    /// file's tlsCa].
    #[arg(long = "tls-ca", value_name = "FILE", env = "HELIOS_TLS_CA", global = true, help_heading = GLOBAL)]
    pub tls_ca: Option<std::path::PathBuf>,

    /// Show this client certificate (PEM) to https masters that require one; with --tls-key
    /// [default: the config file's tlsCert].
    #[arg(long = "tls-cert", value_name = "FILE", env = "HELIOS_TLS_CERT", global = true, help_heading = GLOBAL)]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --tls-cert [default: the config file's tlsKey].
    #[arg(long = "tls-key", value_name = "FILE", env = "HELIOS_TLS_KEY", global = true, help_heading = GLOBAL)]
    pub tls_key: Option<std::path::PathBuf>,

    /// Timeout in seconds of each HTTP request to a master.
    #[arg(
        long = "http-timeout",
        value_name = "SEC",
        env = "HELIOS_CLI_HTTP_TIMEOUT",
        default_value_t = DEFAULT_HTTP_TIMEOUT_SECS,
        global = true,
        help_heading = GLOBAL
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
        help_heading = GLOBAL
    )]
    pub retry_timeout: u64,

    /// File holding the API token for masters that run with security on [default:
    /// $HELIOS_API_TOKEN, else the config file's apiToken or apiTokenFile].
    #[arg(
        long = "api-token-file",
        value_name = "FILE",
        env = "HELIOS_API_TOKEN_FILE",
        global = true,
        help_heading = GLOBAL
    )]
    pub api_token_file: Option<std::path::PathBuf>,

    /// Print the client version and exit.
    #[arg(long = "version", global = true, help_heading = GLOBAL)]
    pub version: bool,
}

/// The sub-commands, in Helios's order: jobs, hosts, masters, then the rest.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// create a job
    Create(Box<CreateArgs>),
    /// remove a job
    Remove(RemoveArgs),
    /// print the configuration of a job
    Inspect(InspectArgs),
    /// deploy a job to hosts
    Deploy(DeployArgs),
    /// undeploy a job from hosts
    Undeploy(UndeployArgs),
    /// start a stopped job
    Start(GoalArgs),
    /// stop a job without undeploying it
    Stop(GoalArgs),
    /// see the run history of a job
    History(HistoryArgs),
    /// list jobs
    Jobs(JobsArgs),
    /// show job or host status
    Status(StatusArgs),
    /// watch jobs
    Watch(WatchArgs),
    /// list hosts
    Hosts(HostsArgs),
    /// register a host
    Register(RegisterArgs),
    /// deregister a host
    Deregister(DeregisterArgs),
    /// list masters
    Masters(MastersArgs),
    /// create, list or revoke API tokens (masters with security on; admin token)
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// write a consistent backup of the cluster's state to FILE (admin token), for
    /// `helios-master restore --from FILE`
    Backup(BackupArgs),
    /// create a deployment group
    CreateDeploymentGroup(CreateDeploymentGroupArgs),
    /// remove a deployment-group (jobs it deployed stay deployed)
    RemoveDeploymentGroup(DeploymentGroupNameArgs),
    /// list deployment groups
    ListDeploymentGroups,
    /// inspect a deployment group
    InspectDeploymentGroup(DeploymentGroupNameArgs),
    /// show deployment-group status
    DeploymentGroupStatus(DeploymentGroupStatusArgs),
    /// watch a deployment group's hosts
    WatchDeploymentGroup(WatchDeploymentGroupArgs),
    /// initiate a rolling update of a job onto a deployment group
    RollingUpdate(RollingUpdateArgs),
    /// stop a deployment group's rolling update
    StopDeploymentGroup(DeploymentGroupNameArgs),
    /// print version of master and client
    Version,
    /// print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
}

/// `helios completions`.
#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
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

    /// Secret environment variables (KEY=VALUE, repeatable): set like --env, and marked in
    /// secretEnv, so that no log shows them and read-only API tokens see "<secret>"
    #[arg(long = "secret-env", value_name = "ENV", action = ArgAction::Append)]
    pub secret_env: Vec<String>,

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
    /// Show every member, also those that are down, with its id, role, state, term, match
    /// index, lag and addresses
    #[arg(long = "all")]
    pub all: bool,
    /// Add or remove a member (admin); without one, list the masters.
    #[command(subcommand)]
    pub change: Option<MembershipCommand>,
}

/// `helios masters add|remove`: membership changes, one at a time.
#[derive(Subcommand, Debug, Clone)]
pub enum MembershipCommand {
    /// add a master started with --await-add: a learner until it caught up, then a voter
    Add {
        /// The new master's --name.
        name: String,
        /// host:port of its cluster port, as the other masters reach it.
        #[arg(long = "cluster")]
        cluster: String,
        /// host:port of its HTTP API, as the other masters reach it.
        #[arg(long = "http")]
        http: String,
    },
    /// remove a member, up or down (the leader too); it may not come back with its data
    Remove {
        /// The member's name.
        name: String,
        /// Automatically answer 'yes' to the interactive prompt.
        #[arg(long = "yes")]
        yes: bool,
    },
}

/// `helios deploy`.
#[derive(Args, Debug, Clone)]
pub struct DeployArgs {
    /// Job id.
    pub job: String,
    /// The hosts to deploy the job on.
    #[arg(required = true)]
    pub hosts: Vec<String>,
    /// Insecure access token
    #[arg(long = "token", num_args = 0..=1, default_value = "", default_missing_value = "")]
    pub token: String,
    /// Deploy job without starting it.
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Watch the newly deployed job until it runs (or fails) everywhere.
    #[arg(long = "watch")]
    pub watch: bool,
    /// if --watch is specified, the polling interval, default 1 second
    #[arg(long = "interval", value_name = "SEC", default_value_t = 1)]
    pub interval: u64,
}

/// `helios undeploy`.
#[derive(Args, Debug, Clone)]
pub struct UndeployArgs {
    /// Job id.
    pub job: String,
    /// The hosts to undeploy the job from.
    pub hosts: Vec<String>,
    /// Insecure access token
    #[arg(long = "token", num_args = 0..=1, default_value = "", default_missing_value = "")]
    pub token: String,
    /// Undeploy from all currently deployed hosts.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Automatically answer 'yes' to the interactive prompt.
    #[arg(long = "yes")]
    pub yes: bool,
    /// Deprecated spelling of --yes.
    #[arg(long = "force", hide = true)]
    pub force: bool,
}

/// `helios start` and `helios stop`.
#[derive(Args, Debug, Clone)]
pub struct GoalArgs {
    /// Job id.
    pub job: String,
    /// The hosts to change the job's goal on.
    #[arg(required = true)]
    pub hosts: Vec<String>,
    /// Insecure access token
    #[arg(long = "token", num_args = 0..=1, default_value = "", default_missing_value = "")]
    pub token: String,
}

/// `helios status`.
#[derive(Args, Debug, Clone, Default)]
pub struct StatusArgs {
    /// Job filter
    #[arg(short = 'j', long = "job")]
    pub job: Option<String>,
    /// Host pattern
    #[arg(long = "host", default_value = "")]
    pub host: String,
    /// Print full hostnames, job and container id's.
    #[arg(short = 'f')]
    pub full: bool,
}

/// `helios history`.
#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    /// Job id
    pub job: String,
}

/// `helios watch`.
#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Job reference
    pub job: String,
    /// The hostname prefixes to watch the job on.
    pub hosts: Vec<String>,
    /// polling interval, default 1 second
    #[arg(long = "interval", value_name = "SEC", default_value_t = 1)]
    pub interval: u64,
    /// Show status of job for every host in hosts
    #[arg(long = "exact")]
    pub exact: bool,
}

/// `helios hosts`.
#[derive(Args, Debug, Clone, Default)]
pub struct HostsArgs {
    /// Pattern to filter hosts with
    #[arg(default_value = "")]
    pub pattern: String,
    /// only print host names
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Print full host names.
    #[arg(short = 'f')]
    pub full: bool,
    /// Filter hosts by its status. Valid statuses are: UP, DOWN
    #[arg(long = "status", num_args = 0..=1, value_parser = ["UP", "DOWN"])]
    pub status: Option<String>,
    /// Host selector expression (repeatable; all must match). Supported
    /// operators are '=', '!=', 'in' and 'notin', e.g. `-s site=foo -s bar!=yes`
    /// or `-s "role in (web, api)"`.
    #[arg(short = 's', long = "selector", value_name = "EXPR", action = ArgAction::Append)]
    pub selectors: Vec<String>,
}

/// `helios register`.
#[derive(Args, Debug, Clone)]
pub struct RegisterArgs {
    /// The hostname of the agent you want to register with the Helios masters.
    pub host: String,
    /// A unique ID for this host.
    pub id: String,
}

/// `helios deregister`.
#[derive(Args, Debug, Clone)]
pub struct DeregisterArgs {
    /// Host name to deregister.
    pub host: String,
    /// Automatically answer 'yes' to the interactive prompt.
    #[arg(long = "yes")]
    pub yes: bool,
    /// Deprecated spelling of --yes.
    #[arg(long = "force", hide = true)]
    pub force: bool,
}

/// `helios backup`.
#[derive(Args, Debug, Clone)]
pub struct BackupArgs {
    /// Where to write the backup (replaced whole, once complete).
    pub file: std::path::PathBuf,
}

/// `helios tokens …`: the masters' API tokens (`POST/GET/DELETE /tokens`).
#[derive(Subcommand, Debug, Clone)]
pub enum TokensCommand {
    /// create a token; prints it once (it is not stored, only its hash)
    Create {
        /// A unique name for the token.
        name: String,
        /// What it may do: read, deploy or admin.
        #[arg(long = "role", default_value = "read")]
        role: String,
    },
    /// list the tokens (names, roles, ids; never the tokens)
    List,
    /// revoke a token, by name or id
    Revoke {
        /// The token's name or id.
        name: String,
    },
}

/// `helios create-deployment-group`.
#[derive(Args, Debug, Clone)]
pub struct CreateDeploymentGroupArgs {
    /// Deployment group name
    pub name: String,
    /// Host selector expression (one or more; all must hold). Hosts matching them are part
    /// of the deployment group. Operators are =, !=, in and notin, e.g. `foo=bar baz!=qux
    /// "role in (web, api)"`.
    #[arg(required = true, value_name = "HOST_SELECTOR")]
    pub host_selectors: Vec<String>,
    /// only print the master's answer
    #[arg(short = 'q')]
    pub quiet: bool,
}

/// `helios remove-deployment-group`, `helios inspect-deployment-group` and
/// `helios stop-deployment-group`.
#[derive(Args, Debug, Clone)]
pub struct DeploymentGroupNameArgs {
    /// Deployment group name
    pub name: String,
}

/// `helios deployment-group-status`.
#[derive(Args, Debug, Clone)]
pub struct DeploymentGroupStatusArgs {
    /// Deployment group name
    pub name: String,
    /// Print full hostnames and job ids.
    #[arg(short = 'f')]
    pub full: bool,
}

/// `helios watch-deployment-group`.
#[derive(Args, Debug, Clone)]
pub struct WatchDeploymentGroupArgs {
    /// Deployment group name
    pub name: String,
    /// Print full hostnames.
    #[arg(short = 'f')]
    pub full: bool,
    /// polling interval, default 1 second
    #[arg(long = "interval", value_name = "SEC", default_value_t = 1)]
    pub interval: u64,
}

/// `helios rolling-update`. The rollout options left out are `None`: the master takes them
/// from the job, else Helios's defaults.
#[derive(Args, Debug, Clone)]
pub struct RollingUpdateArgs {
    /// Job id.
    pub job: String,
    /// Deployment group name
    #[arg(value_name = "DEPLOYMENT_GROUP_NAME")]
    pub group: String,
    /// Fail rollout if a job takes longer than this to reach RUNNING (seconds) [default: the
    /// job's, else 300]
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "SEC",
        allow_negative_numbers = true
    )]
    pub timeout: Option<i64>,
    /// Number of hosts to deploy to concurrently [default: the job's, else 1]
    #[arg(
        short = 'p',
        long = "par",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub parallelism: Option<i32>,
    /// Don't block until rolling-update is complete
    #[arg(long = "async")]
    pub asynchronous: bool,
    /// Exit if rolling-update takes longer than the given value (minutes). Note that this will
    /// NOT abort the rolling update, it will just cause this command to exit.
    #[arg(
        short = 'T',
        long = "rollout-timeout",
        value_name = "MIN",
        default_value_t = DEFAULT_ROLLOUT_WAIT_MINUTES,
        allow_negative_numbers = true
    )]
    pub rollout_timeout: i64,
    /// Undeploy not only the jobs the deployment group deployed but also jobs with the same
    /// job id. Use it ONCE when migrating a service to deployment groups.
    #[arg(long = "migrate")]
    pub migrate: bool,
    /// On every host, deploy the new version of the job before undeploying the old one (fails
    /// if the job has static ports).
    #[arg(long = "overlap")]
    pub overlap: bool,
    /// Insecure access token meant to prevent accidental changes to your job (e.g. undeploys).
    #[arg(long = "token", num_args = 0..=1, default_missing_value = "")]
    pub token: Option<String>,
    /// Go on with the rollout when a host fails.
    #[arg(long = "ignore-failures")]
    pub ignore_failures: bool,
}

/// Default of `rolling-update -T`: minutes the command waits for the rollout.
pub const DEFAULT_ROLLOUT_WAIT_MINUTES: i64 = 60;

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
    fn master_selection_flags() {
        let cli = parse(&[
            "-d",
            "a.test,b.test",
            "--domains",
            "c.test",
            "--srv-name",
            "custom",
            "--dns-server",
            "127.0.0.1:5353",
            "-k",
            "jobs",
        ]);
        assert_eq!(cli.global.domains, ["a.test,b.test", "c.test"]);
        assert_eq!(cli.global.srv_name.as_deref(), Some("custom"));
        assert_eq!(
            cli.global.dns_server,
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert!(cli.global.insecure);
        let err = Cli::try_parse_from(["helios", "--dns-server", "nope", "jobs"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("Invalid DNS server nope (expected HOST:PORT)"),
            "{err}"
        );
    }

    #[test]
    fn completions_for_each_shell() {
        for shell in ["bash", "zsh", "fish"] {
            let cli = parse(&["completions", shell]);
            let Some(Command::Completions(args)) = cli.command else {
                panic!("not completions")
            };
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "helios", &mut script);
            let script = String::from_utf8(script).expect("utf8");
            // Every command and the lookup flags are completed.
            for word in ["deploy", "completions", "domains", "srv-name", "dns-server"] {
                assert!(script.contains(word), "{shell}: {word}");
            }
        }
        assert!(Cli::try_parse_from(["helios", "completions", "tcsh"]).is_err());
    }

    #[test]
    fn help_describes_every_command_and_option_in_one_line() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "master selection:",
            "global options:",
            "HELIOS_MASTER",
            "~/.helios/config",
            "HELIOS_DNS_SERVER",
            "HELIOS_HTTPS_SRV_FORMAT",
        ] {
            assert!(help.contains(needle), "{needle}");
        }
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(
                !about.is_empty() && !about.contains('\n'),
                "{}",
                sub.get_name()
            );
        }
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let text = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(!text.is_empty(), "{:?}", arg.get_id());
        }
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

    #[test]
    fn deploy_and_undeploy_flags() {
        let cli = parse(&["deploy", "foo:1", "h1", "h2", "--no-start", "--token", "t"]);
        let Some(Command::Deploy(args)) = cli.command else {
            panic!("not deploy")
        };
        assert_eq!(args.hosts, ["h1", "h2"]);
        assert!(args.no_start && !args.watch);
        assert_eq!((args.token.as_str(), args.interval), ("t", 1));
        assert!(Cli::try_parse_from(["helios", "deploy", "foo:1"]).is_err());

        let cli = parse(&["undeploy", "foo:1", "-a", "--yes"]);
        let Some(Command::Undeploy(args)) = cli.command else {
            panic!("not undeploy")
        };
        assert!(args.all && args.yes && args.hosts.is_empty());
        assert_eq!(args.token, "");
    }

    #[test]
    fn start_stop_need_hosts() {
        let cli = parse(&["stop", "foo:1", "h1", "--token"]);
        let Some(Command::Stop(args)) = cli.command else {
            panic!("not stop")
        };
        assert_eq!((args.hosts.len(), args.token.as_str()), (1, ""));
        assert!(Cli::try_parse_from(["helios", "start", "foo:1"]).is_err());
    }

    #[test]
    fn status_watch_history_flags() {
        let cli = parse(&["status", "-j", "foo", "--host", "h.*", "-f"]);
        let Some(Command::Status(args)) = cli.command else {
            panic!("not status")
        };
        assert_eq!(args.job.as_deref(), Some("foo"));
        assert_eq!(args.host, "h.*");
        assert!(args.full);
        let cli = parse(&["watch", "foo", "h1", "h2", "--exact", "--interval", "3"]);
        let Some(Command::Watch(args)) = cli.command else {
            panic!("not watch")
        };
        assert_eq!((args.hosts.len(), args.exact, args.interval), (2, true, 3));
        assert!(matches!(
            parse(&["history", "foo"]).command,
            Some(Command::History(_))
        ));
    }

    #[test]
    fn hosts_flags_and_status_choices() {
        let cli = parse(&[
            "hosts",
            "web",
            "-s",
            "a=b",
            "--selector",
            "c in (d, e)",
            "--status",
            "UP",
        ]);
        let Some(Command::Hosts(args)) = cli.command else {
            panic!("not hosts")
        };
        assert_eq!(args.pattern, "web");
        assert_eq!(args.selectors, ["a=b", "c in (d, e)"]);
        assert_eq!(args.status.as_deref(), Some("UP"));
        // argparse choices are case-sensitive.
        assert!(Cli::try_parse_from(["helios", "hosts", "--status", "up"]).is_err());
        let cli = parse(&["hosts"]);
        let Some(Command::Hosts(args)) = cli.command else {
            panic!("not hosts")
        };
        assert_eq!((args.pattern.as_str(), args.status), ("", None));
    }

    #[test]
    fn deployment_group_commands() {
        let cli = parse(&["create-deployment-group", "g", "a=b", "-q", "c in (d, e)"]);
        let Some(Command::CreateDeploymentGroup(args)) = cli.command else {
            panic!("not create-deployment-group")
        };
        assert_eq!(args.name, "g");
        assert_eq!(args.host_selectors, ["a=b", "c in (d, e)"]);
        assert!(args.quiet);
        // Helios's argparse wants at least one selector.
        assert!(Cli::try_parse_from(["helios", "create-deployment-group", "g"]).is_err());
        let cli = parse(&["deployment-group-status", "g", "-f"]);
        let Some(Command::DeploymentGroupStatus(args)) = cli.command else {
            panic!("not deployment-group-status")
        };
        assert_eq!((args.name.as_str(), args.full), ("g", true));
        assert!(matches!(
            parse(&["remove-deployment-group", "g"]).command,
            Some(Command::RemoveDeploymentGroup(DeploymentGroupNameArgs { ref name })) if name == "g"
        ));
        assert!(matches!(
            parse(&["inspect-deployment-group", "g"]).command,
            Some(Command::InspectDeploymentGroup(DeploymentGroupNameArgs { ref name })) if name == "g"
        ));
        for command in ["remove-deployment-group", "inspect-deployment-group"] {
            assert!(
                Cli::try_parse_from(["helios", command]).is_err(),
                "{command}"
            );
        }
        assert!(matches!(
            parse(&["list-deployment-groups"]).command,
            Some(Command::ListDeploymentGroups)
        ));
    }

    #[test]
    fn rolling_update_flags() {
        let cli = parse(&["rolling-update", "foo:1", "g"]);
        let Some(Command::RollingUpdate(args)) = cli.command else {
            panic!("not rolling-update")
        };
        assert_eq!((args.job.as_str(), args.group.as_str()), ("foo:1", "g"));
        // Options not given stay unset: the job's or Helios's defaults apply.
        assert_eq!(
            (args.timeout, args.parallelism, args.token),
            (None, None, None)
        );
        assert!(!args.asynchronous && !args.migrate && !args.overlap && !args.ignore_failures);
        assert_eq!(args.rollout_timeout, DEFAULT_ROLLOUT_WAIT_MINUTES);
        let cli = parse(&[
            "rolling-update",
            "foo:1",
            "g",
            "-t",
            "30",
            "-p",
            "-2",
            "--async",
            "-T",
            "5",
            "--migrate",
            "--overlap",
            "--ignore-failures",
            "--token",
        ]);
        let Some(Command::RollingUpdate(args)) = cli.command else {
            panic!("not rolling-update")
        };
        // Negative numbers parse, so that the command can say what is wrong with them.
        assert_eq!((args.timeout, args.parallelism), (Some(30), Some(-2)));
        assert_eq!((args.rollout_timeout, args.token.as_deref()), (5, Some("")));
        assert!(args.asynchronous && args.migrate && args.overlap && args.ignore_failures);
        assert!(Cli::try_parse_from(["helios", "rolling-update", "foo:1"]).is_err());
    }

    #[test]
    fn watch_and_stop_deployment_group() {
        let cli = parse(&["watch-deployment-group", "g", "-f", "--interval", "3"]);
        let Some(Command::WatchDeploymentGroup(args)) = cli.command else {
            panic!("not watch-deployment-group")
        };
        assert_eq!(
            (args.name.as_str(), args.full, args.interval),
            ("g", true, 3)
        );
        let cli = parse(&["watch-deployment-group", "g"]);
        let Some(Command::WatchDeploymentGroup(args)) = cli.command else {
            panic!("not watch-deployment-group")
        };
        assert_eq!((args.full, args.interval), (false, 1));
        assert!(matches!(
            parse(&["stop-deployment-group", "g"]).command,
            Some(Command::StopDeploymentGroup(DeploymentGroupNameArgs { ref name })) if name == "g"
        ));
        assert!(Cli::try_parse_from(["helios", "stop-deployment-group"]).is_err());
    }

    #[test]
    fn register_and_deregister() {
        let cli = parse(&["register", "h1", "id-1"]);
        let Some(Command::Register(args)) = cli.command else {
            panic!("not register")
        };
        assert_eq!((args.host.as_str(), args.id.as_str()), ("h1", "id-1"));
        assert!(Cli::try_parse_from(["helios", "register", "h1"]).is_err());
        let cli = parse(&["deregister", "h1", "--yes"]);
        let Some(Command::Deregister(args)) = cli.command else {
            panic!("not deregister")
        };
        assert!(args.yes);
    }
}
