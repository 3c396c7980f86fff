//! The commands: one module per `helios` sub-command, plus [`job_ref`] for the
//! wildcard job lookup several of them share.
//!
//! A command gets a [`HeliosClient`] for one cluster and a [`Context`] holding
//! its output streams, and returns its exit code; an `Err` is an exception in
//! Helios's sense (printed as one line on stderr, exit code 1). [`run_on`] runs a
//! command once per target, as Helios's `ControlCommand` does, except `watch`,
//! which shows every target in each round (Helios's
//! `MultiTargetControlCommand`), and `rolling-update`, which stops at the first
//! target where it fails (Helios's short-circuiting `WildcardJobCommand`). Each
//! target's masters are looked up just before the command runs on it; a target
//! whose masters cannot be found prints `Failed to resolve helios master in
//! <target>` on stderr, counts as a failure, and the other targets still run.

pub mod backup;
pub mod create;
pub mod create_deployment_group;
pub mod deploy;
pub mod deployment_group_status;
pub mod deregister;
pub mod goal;
pub mod history;
pub mod host_resolver;
pub mod hosts;
pub mod inspect;
pub mod inspect_deployment_group;
pub mod job_ref;
pub mod jobs;
pub mod list_deployment_groups;
pub mod masters;
pub mod register;
pub mod remove;
pub mod remove_deployment_group;
pub mod rolling_update;
pub mod status;
pub mod stop_deployment_group;
pub mod tokens;
pub mod undeploy;
pub mod version;
pub mod watch;
pub mod watch_deployment_group;

use std::io::{BufRead, Write};

use helios_api::Goal;

use crate::args::Command;
use crate::client::{ClientConfig, ConnectOptions, HeliosClient, TlsOptions};
use crate::lookup::{Lookup, ResolveError};
use crate::target::{Target, TargetSpec};

/// What a command may touch besides the master.
pub struct Context<'a> {
    /// Normal output (stdout).
    pub out: &'a mut dyn Write,
    /// Answers to confirmation prompts (stdin).
    pub stdin: &'a mut dyn BufRead,
    /// `--json` was given.
    pub json: bool,
    /// `out` is a terminal, where progress may be redrawn in place (never in tests).
    pub terminal: bool,
}

impl Context<'_> {
    /// Prints one host's answer to a deploy, undeploy, start or stop: the response as JSON
    /// with `--json`, else `<host>: done`, or `<host>: failed: <failure>` when `failure` is
    /// given.
    pub fn host_result(
        &mut self,
        host: &str,
        response: &impl serde::Serialize,
        failure: Option<String>,
    ) -> std::io::Result<()> {
        if self.json {
            let line = crate::output::json::compact(&crate::output::json::to_value(response));
            writeln!(self.out, "{line}")
        } else {
            match failure {
                None => writeln!(self.out, "{host}: done"),
                Some(why) => writeln!(self.out, "{host}: failed: {why}"),
            }
        }
    }
}

/// The clusters a command runs on and how to reach them.
pub struct Masters<'a> {
    /// The clusters as configured.
    pub specs: &'a [TargetSpec],
    /// How their masters are found.
    pub lookup: &'a Lookup,
    /// How https masters are trusted, and the client certificate shown to them.
    pub tls: TlsOptions,
}

/// Runs `command` against clusters whose endpoints are known (see [`run_on`]);
/// for tests, which script masters on loopback.
#[cfg(test)]
pub async fn run(
    command: &Command,
    targets: &[Target],
    config: &ClientConfig,
    ctx: &mut Context<'_>,
    err: &mut dyn Write,
) -> i32 {
    let specs: Vec<TargetSpec> = targets.iter().cloned().map(TargetSpec::Endpoints).collect();
    let lookup = Lookup::default();
    let masters = Masters {
        specs: &specs,
        lookup: &lookup,
        tls: TlsOptions::default(),
    };
    run_on(command, &masters, config, ctx, err).await
}

/// Runs `command` against every cluster and returns the process exit code:
/// 0 when it succeeded everywhere; with one target the command's own code
/// (1, or 255 for a failed `undeploy`); with several, 1.
///
/// With several targets, human output gets a `<target> (<endpoints>)` header
/// and JSON output is wrapped as `{"<target>": <json>, …}`, as in Helios.
pub async fn run_on(
    command: &Command,
    masters: &Masters<'_>,
    config: &ClientConfig,
    ctx: &mut Context<'_>,
    err: &mut dyn Write,
) -> i32 {
    if let Command::Watch(args) = command {
        return run_watch(args, masters, config, ctx, err).await;
    }
    let specs = masters.specs;
    let multi = specs.len() > 1;
    let mut all_ok = true;
    let mut last_code = 0;
    for (i, spec) in specs.iter().enumerate() {
        let resolved = masters.lookup.resolve(spec).await;
        log_resolution(spec, &resolved, config.verbose, err);
        if multi {
            if ctx.json {
                if i == 0 {
                    let _ = writeln!(ctx.out, "{{");
                }
                let _ = writeln!(ctx.out, "\"{}\": ", spec.name());
            } else {
                let endpoints = resolved.as_ref().map(display_endpoints).unwrap_or_default();
                let header = format!("{} ([{}])", spec.name(), endpoints.join(", "));
                let _ = writeln!(ctx.out, "{header}");
                let _ = writeln!(ctx.out, "{}", "-".repeat(header.chars().count()));
            }
        }
        let mut counted = CountingWriter {
            inner: &mut *ctx.out,
            written: 0,
        };
        let mut sub = Context {
            out: &mut counted,
            stdin: &mut *ctx.stdin,
            json: ctx.json,
            terminal: ctx.terminal,
        };
        let code = match resolved {
            Err(e) => {
                let _ = sub.out.flush();
                let _ = writeln!(err, "{}", e.line(config.verbose));
                1
            }
            Ok(target) => match client_for(spec, target, config, &masters.tls) {
                Ok(client) => match dispatch(command, &client, &mut sub).await {
                    Ok(code) => code,
                    Err(e) => report_error(&mut sub, err, &e, config.verbose),
                },
                Err(e) => {
                    let _ = writeln!(err, "{}", one_line(&e, config.verbose));
                    1
                }
            },
        };
        if multi && ctx.json && counted.written == 0 {
            // A cluster that failed still gets a value, so the whole stays valid JSON
            // (Helios printed nothing there).
            let _ = writeln!(ctx.out, "null");
        }
        all_ok &= code == 0;
        if code != 0 {
            last_code = code;
        }
        let stop = code != 0 && short_circuits(command);
        if multi {
            if !ctx.json {
                let _ = writeln!(ctx.out);
            } else if i + 1 < specs.len() && !stop {
                let _ = writeln!(ctx.out, ",\n");
            } else {
                // Helios leaves the object open when it stops early; it is closed here so
                // that the output stays valid JSON.
                let _ = writeln!(ctx.out, "}}");
            }
        }
        if stop {
            break;
        }
    }
    let _ = ctx.out.flush();
    if all_ok {
        0
    } else if multi {
        1
    } else {
        last_code
    }
}

/// Whether the other targets are left out once `command` failed on one: only
/// `rolling-update`, as in Helios, so that a rollout that failed on one cluster is not
/// started on the next.
fn short_circuits(command: &Command) -> bool {
    matches!(command, Command::RollingUpdate(_))
}

/// Counts the bytes a command writes, to tell whether it printed anything.
struct CountingWriter<'w> {
    inner: &'w mut dyn Write,
    written: usize,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A client for a resolved cluster, its messages naming the cluster as `spec` does.
fn client_for(
    spec: &TargetSpec,
    target: Target,
    config: &ClientConfig,
    tls: &TlsOptions,
) -> anyhow::Result<HeliosClient> {
    let options = ConnectOptions {
        label: Some(spec.label()),
        tls: tls.clone(),
    };
    HeliosClient::with_options(target, config.clone(), options)
}

/// The distinct endpoint URLs of a cluster, for headers (several addresses of one
/// host name are one URL).
fn display_endpoints(target: &Target) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for endpoint in &target.endpoints {
        let url = endpoint.as_str().to_string();
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// With `-vv`, shows where a cluster's masters were found.
fn log_resolution(
    spec: &TargetSpec,
    resolved: &Result<Target, ResolveError>,
    verbose: u8,
    err: &mut dyn Write,
) {
    if verbose < 2 {
        return;
    }
    if let Ok(target) = resolved {
        let endpoints: Vec<String> = target
            .endpoints
            .iter()
            .map(|e| match e.addr {
                Some(addr) => format!("{} at {addr}", e.as_str()),
                None => e.as_str().to_string(),
            })
            .collect();
        let _ = writeln!(err, "{}: {}", spec.label(), endpoints.join(", "));
    }
}

/// Prints an exception on `err` (nothing for a closed stdout, as in
/// `helios jobs | head`) and returns exit code 1.
fn report_error(
    ctx: &mut Context<'_>,
    err: &mut dyn Write,
    error: &anyhow::Error,
    verbose: u8,
) -> i32 {
    let _ = ctx.out.flush();
    if !is_broken_pipe(error) {
        let _ = writeln!(err, "{}", one_line(error, verbose));
    }
    1
}

/// `helios watch`: one loop over all targets. Targets whose masters cannot be
/// found are reported and left out; with none left the exit code is 1.
async fn run_watch(
    args: &crate::args::WatchArgs,
    masters: &Masters<'_>,
    config: &ClientConfig,
    ctx: &mut Context<'_>,
    err: &mut dyn Write,
) -> i32 {
    let mut clients = Vec::with_capacity(masters.specs.len());
    for spec in masters.specs {
        let resolved = masters.lookup.resolve(spec).await;
        log_resolution(spec, &resolved, config.verbose, err);
        let target = match resolved {
            Ok(target) => target,
            Err(e) => {
                let _ = writeln!(err, "{}", e.line(config.verbose));
                continue;
            }
        };
        match client_for(spec, target.clone(), config, &masters.tls) {
            Ok(client) => clients.push((target, client)),
            Err(e) => {
                let _ = writeln!(err, "{}", one_line(&e, config.verbose));
                return 1;
            }
        }
    }
    if clients.is_empty() {
        return 1;
    }
    let code = match watch::run(args, &clients, ctx).await {
        Ok(code) => code,
        Err(e) => report_error(ctx, err, &e, config.verbose),
    };
    let _ = ctx.out.flush();
    code
}

/// Runs one command against one cluster.
async fn dispatch(
    command: &Command,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    match command {
        Command::Create(args) => create::run(args, client, ctx).await,
        Command::Inspect(args) => inspect::run(args, client, ctx).await,
        Command::Jobs(args) => jobs::run(args, client, ctx).await,
        Command::Remove(args) => remove::run(args, client, ctx).await,
        Command::Masters(args) => masters::run(args, client, ctx).await,
        Command::Tokens(command) => tokens::run(command, client, ctx).await,
        Command::Backup(args) => backup::run(args, client, ctx).await,
        Command::Version => version::run(client, ctx).await,
        Command::Deploy(args) => deploy::run(args, client, ctx).await,
        Command::Undeploy(args) => undeploy::run(args, client, ctx).await,
        Command::Start(args) => goal::run(args, Goal::Start, client, ctx).await,
        Command::Stop(args) => goal::run(args, Goal::Stop, client, ctx).await,
        Command::Status(args) => status::run(args, client, ctx).await,
        Command::History(args) => history::run(args, client, ctx).await,
        Command::Hosts(args) => hosts::run(args, client, ctx).await,
        Command::Register(args) => register::run(args, client, ctx).await,
        Command::Deregister(args) => deregister::run(args, client, ctx).await,
        Command::CreateDeploymentGroup(args) => {
            create_deployment_group::run(args, client, ctx).await
        }
        Command::RemoveDeploymentGroup(args) => {
            remove_deployment_group::run(args, client, ctx).await
        }
        Command::ListDeploymentGroups => list_deployment_groups::run(client, ctx).await,
        Command::InspectDeploymentGroup(args) => {
            inspect_deployment_group::run(args, client, ctx).await
        }
        Command::DeploymentGroupStatus(args) => {
            deployment_group_status::run(args, client, ctx).await
        }
        Command::WatchDeploymentGroup(args) => watch_deployment_group::run(args, client, ctx).await,
        Command::RollingUpdate(args) => rolling_update::run(args, client, ctx).await,
        Command::StopDeploymentGroup(args) => stop_deployment_group::run(args, client, ctx).await,
        // Handled by `main` before any master is looked up.
        Command::Completions(_) => Ok(0),
        // Handled by `run_on` before any per-target dispatch.
        Command::Watch(args) => {
            let clients = [(client.target().clone(), client.clone())];
            watch::run(args, &clients, ctx).await
        }
    }
}

/// An error as one line: its message, or with `-v` its whole cause chain.
pub fn one_line(error: &anyhow::Error, verbose: u8) -> String {
    let text = if verbose > 0 {
        format!("{error:#}")
    } else {
        error.to_string()
    };
    text.replace(['\r', '\n'], " ")
}

/// True when `error` is a write to a closed pipe.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Helios's confirmation prompt: prints `Do you want to continue? [y/N]` and
/// proceeds only when the answer starts with `y` or `Y`.
pub fn confirmed(ctx: &mut Context<'_>) -> std::io::Result<bool> {
    writeln!(ctx.out, "Do you want to continue? [y/N]")?;
    ctx.out.flush()?;
    let mut answer = String::new();
    ctx.stdin.read_line(&mut answer)?;
    Ok(matches!(answer.trim().chars().next(), Some('y' | 'Y')))
}

#[cfg(test)]
mod deployment_group_tests;
#[cfg(test)]
mod deployment_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use crate::client::testing::{Seen, serve};
    use crate::target::{MasterSources, resolve_targets};
    use clap::Parser;
    use std::time::Duration;

    const HASH: &str = "3f5c6e4aef30e1ab68931dbd66a83226410b87e9";

    /// The client settings of the command tests: user `tester`, 5 s timeouts.
    pub(super) fn test_config() -> ClientConfig {
        ClientConfig {
            user: "tester".into(),
            // Generous: the scripted master answers at once, but a loaded CI machine runs
            // every command test at the same time (one once failed with exit 1 under CI, its
            // error unprinted; a stall past a 5 s limit is the likely cause).
            http_timeout: Duration::from_secs(30),
            retry_timeout: Duration::from_secs(30),
            verbose: 0,
            api_token: None,
        }
    }

    /// Runs `helios -z <scripted master> <argv…>` and returns the exit code,
    /// stdout, stderr and the requests the master saw.
    pub(super) async fn helios(
        argv: &[&str],
        responses: Vec<(u16, String)>,
        stdin: &str,
    ) -> (i32, String, String, Vec<Seen>) {
        let (url, seen) = serve(responses).await;
        let mut full = vec!["helios", "-z", &url];
        full.extend_from_slice(argv);
        let cli = Cli::try_parse_from(full).expect("argv parses");
        let specs = resolve_targets(&MasterSources {
            explicit_endpoints: cli.global.masters.clone(),
            ..MasterSources::default()
        })
        .expect("targets");
        let lookup = Lookup::default();
        let masters = Masters {
            specs: &specs,
            lookup: &lookup,
            tls: TlsOptions::default(),
        };
        let config = test_config();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut input = stdin.as_bytes();
        let mut ctx = Context {
            out: &mut out,
            stdin: &mut input,
            json: cli.global.json,
            terminal: false,
        };
        let command = cli.command.expect("command");
        let code = run_on(&command, &masters, &config, &mut ctx, &mut err).await;
        let seen = seen.lock().expect("lock").clone();
        (
            code,
            String::from_utf8(out).expect("utf8"),
            String::from_utf8(err).expect("utf8"),
            seen,
        )
    }

    fn one_job(id: &str) -> String {
        format!(r#"{{"{id}":{{"id":"{id}","image":"busybox","command":["sleep","60"]}}}}"#)
    }

    #[tokio::test]
    async fn create_prints_the_job_then_done_and_the_id() {
        let id = format!("foo:v1:{HASH}");
        let ok = format!(r#"{{"status":"OK","errors":[],"id":"{id}"}}"#);
        let (code, out, err, seen) =
            helios(&["create", "foo:v1", "nginx"], vec![(200, ok)], "").await;
        assert_eq!(code, 0, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with(r#"Creating job: {"addCapabilities":[],"command":[],"#));
        assert!(lines[0].contains(r#""id":"foo:v1","image":"nginx""#));
        assert_eq!(&lines[1..], ["Done.", id.as_str()]);
        assert_eq!(seen[0].line, "POST /jobs?user=tester");
        let body: serde_json::Value = serde_json::from_str(&seen[0].body).expect("json body");
        assert_eq!(body["id"], "foo:v1");
    }

    #[tokio::test]
    async fn create_failure_is_reported_like_helios() {
        let exists =
            format!(r#"{{"status":"JOB_ALREADY_EXISTS","errors":[],"id":"foo:v1:{HASH}"}}"#);
        let (code, out, _, _) = helios(
            &["create", "-q", "foo:v1", "nginx"],
            vec![(400, exists.clone())],
            "",
        )
        .await;
        assert_eq!((code, out.as_str()), (1, ""));
        let (code, out, _, _) = helios(
            &["create", "foo:v1", "nginx"],
            vec![(400, exists.clone())],
            "",
        )
        .await;
        assert_eq!(code, 1);
        assert!(out.ends_with(&format!(
            "Failed: CreateJobResponse{{status=JOB_ALREADY_EXISTS, errors=[], id='foo:v1:{HASH}'}}\n"
        )));
        let (code, out, _, _) = helios(
            &["create", "foo:v1", "nginx", "--json"],
            vec![(400, exists)],
            "",
        )
        .await;
        assert_eq!(code, 1);
        assert_eq!(
            out,
            format!(
                "{{\"errors\":[],\"id\":\"foo:v1:{HASH}\",\"status\":\"JOB_ALREADY_EXISTS\"}}\n"
            )
        );
    }

    #[tokio::test]
    async fn create_argument_errors_go_to_stderr_without_contacting_the_master() {
        let (code, out, err, seen) =
            helios(&["create", "foo:1", "busybox", "-p", "x"], vec![], "").await;
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (1, "", "Bad port mapping: x\n")
        );
        assert!(seen.is_empty());
        let (code, out, _, seen) = helios(&["create", "foo", "Busybox"], vec![], "").await;
        assert_eq!(code, 1);
        assert!(
            out.contains("Job version was not specified in job id [foo:null]."),
            "{out}"
        );
        assert!(seen.is_empty());
    }

    #[tokio::test]
    async fn inspect_unknown_and_ambiguous() {
        let (code, out, _, seen) = helios(&["inspect", "nope"], vec![(200, "{}".into())], "").await;
        assert_eq!((code, out.as_str()), (1, "Unknown job: nope\n"));
        assert_eq!(seen[0].line, "GET /jobs?user=tester&q=nope");
        let two = r#"{"a:1:x":{"id":"a:1:x","image":"i"},"a:10:y":{"id":"a:10:y","image":"i"}}"#;
        let (code, out, _, _) =
            helios(&["inspect", "a:1", "--json"], vec![(200, two.into())], "").await;
        assert_eq!(code, 1);
        assert_eq!(
            out,
            "{\"host\":null,\"job\":null,\"status\":\"AMBIGUOUS_JOB_REFERENCE\"}\n"
        );
    }

    #[tokio::test]
    async fn inspect_json_is_the_full_pretty_job() {
        let id = format!("foo:1:{HASH}");
        let (code, out, _, _) =
            helios(&["inspect", "foo", "--json"], vec![(200, one_job(&id))], "").await;
        assert_eq!(code, 0);
        assert!(out.starts_with(
            "{\n  \"addCapabilities\" : [ ],\n  \"command\" : [ \"sleep\", \"60\" ],\n"
        ));
        assert!(out.contains("  \"hostname\" : null,\n"));
    }

    #[tokio::test]
    async fn remove_asks_and_reports() {
        let id = format!("foo:1:{HASH}");
        let (code, out, _, seen) =
            helios(&["remove", "foo"], vec![(200, one_job(&id))], "n\n").await;
        assert_eq!(code, 1);
        assert_eq!(
            out,
            format!("This will remove the job {id}\nDo you want to continue? [y/N]\n")
        );
        assert_eq!(seen.len(), 1);

        let (code, out, _, seen) = helios(
            &["remove", "foo", "--token", "t"],
            vec![
                (200, one_job(&id)),
                (400, r#"{"status":"STILL_IN_USE"}"#.into()),
            ],
            "y\n",
        )
        .await;
        assert_eq!(code, 1);
        assert!(out.ends_with(&format!(
            "Removing job {id}\n{id}: failed: JobDeleteResponse{{status=STILL_IN_USE}}\n"
        )));
        assert_eq!(
            seen[1].line,
            format!("DELETE /jobs/{id}?user=tester&token=t")
        );

        let (code, out, _, _) = helios(
            &["remove", "foo", "--yes"],
            vec![(200, one_job(&id)), (200, r#"{"status":"OK"}"#.into())],
            "",
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(out, format!("Removing job {id}\n{id}: done\n"));
    }

    #[tokio::test]
    async fn jobs_without_statuses_and_no_match() {
        let id = format!("foo:1:{HASH}");
        let (code, out, _, _) = helios(
            &["jobs"],
            vec![(200, one_job(&id)), (404, String::new())],
            "",
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(
            out,
            "JOB ID           NAME    VERSION    HOSTS    COMMAND     ENVIRONMENT    \n\
             foo:1:3f5c6e4    foo     1          0        sleep 60                   \n"
        );
        let (code, out, _, _) = helios(&["jobs", "zzz"], vec![(200, "{}".into())], "").await;
        assert_eq!(
            (code, out.as_str()),
            (1, "job pattern zzz matched no jobs\n")
        );
        let (code, out, _, _) = helios(&["jobs", "zzz", "-q"], vec![(200, "{}".into())], "").await;
        assert_eq!((code, out.as_str()), (1, ""));
    }

    #[tokio::test]
    async fn version_and_masters() {
        let (code, out, _, _) = helios(&["version"], vec![(200, "\"0.1.0\"".into())], "").await;
        assert_eq!(code, 0);
        assert_eq!(
            out,
            format!(
                "Client Version: {}\nMaster Version: 0.1.0\n",
                crate::client::CLIENT_VERSION
            )
        );
        let (code, out, _, _) = helios(
            &["masters", "-f", "--json"],
            vec![(200, r#"["m2","m1"]"#.into())],
            "",
        )
        .await;
        assert_eq!((code, out.as_str()), (0, "[ \"m1\", \"m2\" ]\n"));
    }

    #[tokio::test]
    async fn unexpected_statuses_are_one_line_errors() {
        let (code, out, err, _) = helios(&["masters"], vec![(500, "boom\nbang".into())], "").await;
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            "Request failed: GET /masters answered 500: boom bang\n"
        );
    }

    #[tokio::test]
    async fn an_unresolvable_domain_fails_but_other_targets_still_run() {
        let (url, _) = serve(vec![(200, r#"["m1"]"#.into())]).await;
        // A DNS server that never answers: the domain cannot be resolved.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let lookup = Lookup::new(Some(silent.local_addr().expect("addr")), None, None);
        let specs = [
            TargetSpec::Domain {
                domain: "nothing.test".into(),
                srv_name: "helios".into(),
            },
            TargetSpec::Endpoints(Target {
                name: url.clone(),
                endpoints: vec![crate::target::parse_endpoint(&url).expect("url")],
            }),
        ];
        let masters = Masters {
            specs: &specs,
            lookup: &lookup,
            tls: TlsOptions::default(),
        };
        let config = test_config();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut input = &b""[..];
        let mut ctx = Context {
            out: &mut out,
            stdin: &mut input,
            json: false,
            terminal: false,
        };
        let command = Cli::try_parse_from(["helios", "masters", "-f"])
            .expect("argv")
            .command
            .expect("command");
        let code = run_on(&command, &masters, &config, &mut ctx, &mut err).await;
        let (out, err) = (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        );
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "Failed to resolve helios master in nothing.test (srv: helios)\n"
        );
        let header = format!("{url} ([{url}/])");
        assert_eq!(
            out,
            format!(
                "nothing.test ([])\n-----------------\n\n{header}\n{}\nm1\n\n",
                "-".repeat(header.len())
            )
        );
    }

    fn prompt(input: &str) -> (bool, String) {
        let mut out = Vec::new();
        let mut stdin = input.as_bytes();
        let mut ctx = Context {
            out: &mut out,
            stdin: &mut stdin,
            json: false,
            terminal: false,
        };
        let yes = confirmed(&mut ctx).expect("prompt");
        (yes, String::from_utf8(out).expect("utf8"))
    }

    #[test]
    fn only_answers_starting_with_y_confirm() {
        for (input, expected) in [
            ("y\n", true),
            ("Yes\n", true),
            ("  yep", true),
            ("n\n", false),
            ("\n", false),
            ("", false),
            ("sure\n", false),
        ] {
            let (yes, out) = prompt(input);
            assert_eq!(yes, expected, "{input:?}");
            assert_eq!(out, "Do you want to continue? [y/N]\n");
        }
    }

    #[test]
    fn broken_pipes_are_recognised() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&pipe));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }

    #[test]
    fn errors_print_on_one_line() {
        let e = anyhow::anyhow!("root cause\nsecond line").context("Top");
        assert_eq!(one_line(&e, 0), "Top");
        assert_eq!(one_line(&e, 1), "Top: root cause second line");
    }
}
