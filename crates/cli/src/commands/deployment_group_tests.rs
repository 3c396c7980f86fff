//! End-to-end tests of the deployment-group commands (`create-deployment-group`,
//! `remove-deployment-group`, `list-deployment-groups`, `inspect-deployment-group`,
//! `deployment-group-status`, `watch-deployment-group`, `rolling-update`,
//! `stop-deployment-group`) against a scripted master: each test checks the requests
//! sent, the exact output and the exit code.

use std::time::Duration;

use clap::Parser;

use super::deployment_tests::{on_targets, target};
use super::rolling_update::{Pacing, run_paced};
use super::tests::{helios, test_config};
use super::{Context, one_line};
use crate::args::{Cli, Command};
use crate::client::HeliosClient;
use crate::client::testing::{Seen, serve};

const HASH: &str = "3f5c6e4aef30e1ab68931dbd66a83226410b87e9";

fn ok(body: &str) -> (u16, String) {
    (200, body.to_string())
}

fn not_found() -> (u16, String) {
    (404, String::new())
}

/// The idempotency key a request carried, if any.
fn key(seen: &Seen) -> Option<String> {
    seen.headers
        .iter()
        .find_map(|h| h.strip_prefix("idempotency-key: "))
        .map(str::to_string)
}

/// What `create-deployment-group foo-group foo=bar baz=qux` sends and prints.
const GROUP: &str = concat!(
    r#"{"hostSelectors":[{"label":"foo","operand":"bar","operator":"EQUALS"},"#,
    r#"{"label":"baz","operand":"qux","operator":"EQUALS"}],"name":"foo-group"}"#
);

#[tokio::test]
async fn create_prints_the_group_then_the_answer() {
    for status in ["CREATED", "NOT_MODIFIED"] {
        let answer = format!(r#"{{"status":"{status}"}}"#);
        let (code, out, err, seen) = helios(
            &["create-deployment-group", "foo-group", "foo=bar", "baz=qux"],
            vec![ok(&answer)],
            "",
        )
        .await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            format!("Creating deployment group: {GROUP}\n{answer}\n")
        );
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].line, "POST /deployment-group?user=tester");
        assert_eq!(seen[0].body, GROUP);
        assert!(key(&seen[0]).is_some(), "{:?}", seen[0].headers);
    }
}

#[tokio::test]
async fn create_quiet_and_json_print_only_the_answer() {
    for flag in ["-q", "--json"] {
        let (code, out, _, _) = helios(
            &["create-deployment-group", flag, "g", "role in (web, api)"],
            vec![ok(r#"{"status":"CREATED"}"#)],
            "",
        )
        .await;
        assert_eq!(
            (code, out.as_str()),
            (0, "{\"status\":\"CREATED\"}\n"),
            "{flag}"
        );
    }
    // `in` values are sent deduplicated and sorted.
    let (_, out, _, seen) = helios(
        &["create-deployment-group", "g", "role in (web, api, web)"],
        vec![ok(r#"{"status":"CREATED"}"#)],
        "",
    )
    .await;
    let sent = r#"{"hostSelectors":[{"label":"role","operand":["api","web"],"operator":"IN"}],"name":"g"}"#;
    assert_eq!(seen[0].body, sent);
    assert!(out.starts_with(&format!("Creating deployment group: {sent}\n")));
}

#[tokio::test]
async fn create_conflict_fails() {
    let conflict = || vec![ok(r#"{"status":"CONFLICT"}"#)];
    let argv = ["create-deployment-group", "foo-group", "foo=bar", "baz=qux"];
    let (code, out, _, _) = helios(&argv, conflict(), "").await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "Creating deployment group: {GROUP}\nFailed: CreateDeploymentGroupResponse{{status=CONFLICT}}\n"
        )
    );
    let quiet = [&argv[..], &["-q"]].concat();
    let (code, out, _, _) = helios(&quiet, conflict(), "").await;
    assert_eq!((code, out.as_str()), (1, ""));
    let json = [&argv[..], &["--json"]].concat();
    let (code, out, _, _) = helios(&json, conflict(), "").await;
    assert_eq!((code, out.as_str()), (1, "{\"status\":\"CONFLICT\"}\n"));
}

#[tokio::test]
async fn create_rejects_a_bad_selector_before_asking_the_master() {
    let (code, out, err, seen) = helios(
        &["create-deployment-group", "g", "foo=bar", "foo"],
        vec![ok(r#"{"status":"CREATED"}"#)],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "Bad host selector expression: 'foo'\n")
    );
    assert!(seen.is_empty());
}

#[tokio::test]
async fn create_is_retried_with_the_same_idempotency_key() {
    let (code, _, err, seen) = helios(
        &["create-deployment-group", "-q", "g", "a=b"],
        vec![
            (
                503,
                r#"{"status":"NO_LEADER","message":"no leader"}"#.into(),
            ),
            ok(r#"{"status":"CREATED"}"#),
        ],
        "",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(seen.len(), 2);
    assert!(key(&seen[0]).is_some());
    assert_eq!(key(&seen[0]), key(&seen[1]));
}

#[tokio::test]
async fn remove_reports_removed_or_not_found() {
    let (code, out, _, seen) = helios(
        &["remove-deployment-group", "my group"],
        vec![ok(r#"{"status":"REMOVED"}"#)],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (0, "Deployment-group my group removed\n")
    );
    assert_eq!(
        seen[0].line,
        "DELETE /deployment-group/my%20group?user=tester"
    );
    assert!(key(&seen[0]).is_some());

    let missing = r#"{"status":"DEPLOYMENT_GROUP_NOT_FOUND"}"#;
    let (code, out, _, _) = helios(&["remove-deployment-group", "g"], vec![ok(missing)], "").await;
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            "Failed to remove deployment-group g, status: DEPLOYMENT_GROUP_NOT_FOUND\n"
        )
    );
    // A bare 404 means the same.
    let (code, out, _, _) = helios(&["remove-deployment-group", "g"], vec![not_found()], "").await;
    assert_eq!(code, 1);
    assert!(
        out.ends_with("status: DEPLOYMENT_GROUP_NOT_FOUND\n"),
        "{out}"
    );

    let (code, out, _, _) = helios(
        &["remove-deployment-group", "g", "--json"],
        vec![ok(missing)],
        "",
    )
    .await;
    assert_eq!((code, out), (1, format!("{missing}\n")));
    let (code, out, _, _) = helios(
        &["remove-deployment-group", "g", "--json"],
        vec![ok(r#"{"status":"REMOVED"}"#)],
        "",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "{\"status\":\"REMOVED\"}\n"));
}

#[tokio::test]
async fn list_prints_names_in_the_masters_order() {
    let (code, out, _, seen) = helios(
        &["list-deployment-groups"],
        vec![ok(r#"["a-group","b-group"]"#)],
        "",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "a-group\nb-group\n"));
    assert_eq!(seen[0].line, "GET /deployment-group?user=tester");
    assert_eq!(key(&seen[0]), None);

    let (code, out, _, _) = helios(
        &["list-deployment-groups", "--json"],
        vec![ok(r#"["a-group","b-group"]"#)],
        "",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "[ \"a-group\", \"b-group\" ]\n"));
    let (code, out, _, _) = helios(&["list-deployment-groups"], vec![ok("[]")], "").await;
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, out, err, _) =
        helios(&["list-deployment-groups", "--json"], vec![ok("[]")], "").await;
    assert_eq!((code, out.as_str()), (0, "[ ]\n"), "{err}");
    let (code, out, _, _) = helios(&["list-deployment-groups"], vec![not_found()], "").await;
    assert_eq!(
        (code, out.as_str()),
        (1, "Failed to list deployment groups\n")
    );
}

/// A group after a rolling update of `foo:1:<HASH>`.
fn rolled_out_group() -> String {
    format!(
        concat!(
            r#"{{"hostSelectors":[{{"label":"role","operand":"web","operator":"EQUALS"}},"#,
            r#"{{"label":"dc","operand":["a","b"],"operator":"IN"}}],"jobId":"foo:1:{}","#,
            r#""name":"g","rollingUpdateReason":"MANUAL","rolloutOptions":{{"ignoreFailures":false,"#,
            r#""migrate":false,"overlap":false,"parallelism":1,"timeout":300,"token":""}}}}"#
        ),
        HASH
    )
}

#[tokio::test]
async fn inspect_prints_the_group() {
    let (code, out, _, seen) = helios(
        &["inspect-deployment-group", "g"],
        vec![ok(&rolled_out_group())],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "Name: g\nHost selectors:\n  role = web\n  dc in [a, b]\nJob: foo:1:{HASH}\n\
             Rolling update reason: MANUAL\nRollout options:\n  Migrate: false\n  Overlap: false\n  \
             Parallelism: 1\n  Timeout: 300\n  Ignore failures: false\n"
        )
    );
    assert_eq!(seen[0].line, "GET /deployment-group/g?user=tester");

    let (code, out, _, _) = helios(
        &["inspect-deployment-group", "g", "--json"],
        vec![ok(r#"{"name":"g","hostSelectors":[{"operator":"EQUALS","label":"foo","operand":"bar"}],"jobId":null}"#)],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "{\n  \"hostSelectors\" : [ {\n    \"label\" : \"foo\",\n    \"operand\" : \"bar\",\n    \
         \"operator\" : \"EQUALS\"\n  } ],\n  \"name\" : \"g\"\n}\n"
    );
}

#[tokio::test]
async fn inspect_and_status_of_an_unknown_group() {
    for command in ["inspect-deployment-group", "deployment-group-status"] {
        let (code, out, _, _) = helios(&[command, "nope"], vec![not_found()], "").await;
        assert_eq!(
            (code, out.as_str()),
            (1, "Unknown deployment group: nope\n"),
            "{command}"
        );
        let (code, out, _, _) = helios(&[command, "nope", "--json"], vec![not_found()], "").await;
        assert_eq!(
            (code, out.as_str()),
            (1, "{\"status\":\"DEPLOYMENT_GROUP_NOT_FOUND\"}\n"),
            "{command}"
        );
    }
    // Any other status is an error, not an unknown group.
    let (code, out, err, _) = helios(
        &["inspect-deployment-group", "g"],
        vec![(500, "boom".into())],
        "",
    )
    .await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "Request failed: GET /deployment-group/g answered 500: boom\n"
    );
}

fn status_answer() -> String {
    format!(
        r#"{{"deploymentGroup":{},"deploymentGroupStatus":{{"error":"h2: boom","state":"FAILED"}},
           "error":"h2: boom","status":"FAILED","hostStatuses":[
             {{"host":"h1","jobId":"foo:1:{HASH}","state":"RUNNING"}},
             {{"host":"h2","jobId":null,"state":null}}]}}"#,
        rolled_out_group()
    )
}

#[tokio::test]
async fn status_prints_the_group_and_its_hosts() {
    let (code, out, _, seen) = helios(
        &["deployment-group-status", "g"],
        vec![ok(&status_answer())],
        "",
    )
    .await;
    assert_eq!(code, 0);
    // Host names without a dot are never under a search domain: they print absolute.
    assert_eq!(
        out,
        "Name: g\nJob Id: foo:1:3f5c6e4\nStatus: FAILED\nHost selectors:\n  role = web\n  \
         dc in [a, b]\nError: h2: boom\n\n\
         HOST    UP-TO-DATE    JOB              STATE      \n\
         h1.     X             foo:1:3f5c6e4    RUNNING    \n\
         h2.                   -                -          \n"
    );
    assert_eq!(seen[0].line, "GET /deployment-group/g/status?user=tester");

    let (code, out, _, _) = helios(
        &["deployment-group-status", "g", "-f"],
        vec![ok(&status_answer())],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("Name: g\nJob Id: foo:1:{HASH}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "\nh1      X             foo:1:{HASH}    RUNNING    \n"
        )),
        "{out}"
    );
}

#[tokio::test]
async fn status_json_is_the_pretty_answer() {
    let idle = r#"{"deploymentGroup":{"name":"g","hostSelectors":[]},"deploymentGroupStatus":null,
                   "error":"","hostStatuses":[{"host":"h1","jobId":null,"state":null}],
                   "status":"IDLE"}"#;
    let (code, out, _, _) = helios(
        &["deployment-group-status", "g", "--json"],
        vec![ok(idle)],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "{\n  \"deploymentGroup\" : {\n    \"hostSelectors\" : [ ],\n    \"name\" : \"g\"\n  },\n  \
         \"deploymentGroupStatus\" : null,\n  \"error\" : \"\",\n  \"hostStatuses\" : [ {\n    \
         \"host\" : \"h1\",\n    \"jobId\" : null,\n    \"state\" : null\n  } ],\n  \
         \"status\" : \"IDLE\"\n}\n"
    );
    // The same group without --json: no job yet, and the empty error is not shown.
    let (_, out, _, _) = helios(&["deployment-group-status", "g"], vec![ok(idle)], "").await;
    assert_eq!(
        out,
        "Name: g\nJob Id: null\nStatus: IDLE\nHost selectors:\n\n\
         HOST    UP-TO-DATE    JOB    STATE    \n\
         h1.                   -      -        \n"
    );
}

/// The job rolled out in the `rolling-update` tests.
fn new_job() -> String {
    format!("foo:2:{HASH}")
}

/// `GET /jobs?q=…` finding the new job, with `rollout_options` (JSON) when given.
fn job_found(rollout_options: Option<&str>) -> (u16, String) {
    let id = new_job();
    let options = rollout_options.map_or(String::new(), |o| format!(r#","rolloutOptions":{o}"#));
    ok(&format!(
        r#"{{"{id}":{{"id":"{id}","image":"busybox"{options}}}}}"#
    ))
}

fn started() -> (u16, String) {
    ok(r#"{"status":"OK"}"#)
}

/// A status of group `g`, whose job is `group_job`, with `hosts` as (host, job, state).
fn group_status(
    status: &str,
    group_job: &str,
    error: Option<&str>,
    hosts: &[(&str, Option<&str>, Option<&str>)],
) -> (u16, String) {
    let hosts: Vec<serde_json::Value> = hosts
        .iter()
        .map(|(host, job, state)| serde_json::json!({"host": host, "jobId": job, "state": state}))
        .collect();
    let body = serde_json::json!({
        "deploymentGroup": {"name": "g", "hostSelectors": [], "jobId": group_job},
        "deploymentGroupStatus": null,
        "error": error,
        "hostStatuses": hosts,
        "status": status,
    });
    ok(&body.to_string())
}

/// A status of group `g` rolling out the new job.
fn rolling(hosts: &[(&str, Option<&str>, Option<&str>)]) -> (u16, String) {
    group_status("ROLLING_OUT", &new_job(), None, hosts)
}

/// What the test master is paced at: 10 ms between reads, and a `-T` minute of 200 ms.
const FAST: Pacing = Pacing {
    poll: Duration::from_millis(10),
    minute: Duration::from_millis(200),
};

/// Runs `helios -z <scripted master> rolling-update <argv…>` at the `FAST` pace and returns
/// the exit code, stdout, the error line (as `run_on` would print it) and the requests.
async fn rolling_update(
    argv: &[&str],
    responses: Vec<(u16, String)>,
) -> (i32, String, String, Vec<Seen>) {
    let (url, seen) = serve(responses).await;
    let cli =
        Cli::try_parse_from(["helios", "rolling-update"].iter().chain(argv)).expect("argv parses");
    let Some(Command::RollingUpdate(args)) = cli.command else {
        panic!("not rolling-update")
    };
    let config = test_config();
    let client = HeliosClient::new(target(&url, &url), config).expect("client");
    let mut out = Vec::new();
    let mut input = &b""[..];
    let mut ctx = Context {
        out: &mut out,
        stdin: &mut input,
        json: cli.global.json,
        terminal: false,
    };
    let (code, err) = match run_paced(&args, &client, &mut ctx, FAST).await {
        Ok(code) => (code, String::new()),
        Err(e) => (1, one_line(&e, 0)),
    };
    let seen = seen.lock().expect("lock").clone();
    (code, String::from_utf8(out).expect("utf8"), err, seen)
}

/// `out` without its last line, which must be `Duration: <seconds with 2 decimals> s`.
fn without_duration(out: &str) -> &str {
    let body = out.strip_suffix(" s\n").expect("ends with the duration");
    let (rest, seconds) = body.rsplit_once("\nDuration: ").expect("a duration line");
    let (whole, decimals) = seconds.split_once('.').expect("decimals");
    assert!(whole.parse::<u32>().is_ok() && decimals.len() == 2, "{out}");
    &out[..rest.len() + 1]
}

const STARTED_WITH_DEFAULTS: &str = "Rolling update started: g -> foo:2:3f5c6e4 (parallelism=1, \
     timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false)";

#[tokio::test]
async fn rolling_update_reports_each_host_until_done() {
    let new = new_job();
    let old = format!("foo:1:{HASH}");
    let (code, out, err, seen) = rolling_update(
        &["foo", "g"],
        vec![
            job_found(None),
            started(),
            // h2 still runs the old job: it is not done.
            rolling(&[("h1", None, None), ("h2", Some(&old), Some("RUNNING"))]),
            rolling(&[
                ("h1", Some(&new), Some("RUNNING")),
                ("h2", Some(&new), Some("PULLING_IMAGE")),
            ]),
            rolling(&[
                ("h1", Some(&new), Some("RUNNING")),
                ("h2", Some(&new), Some("RUNNING")),
            ]),
            group_status(
                "ACTIVE",
                &new,
                None,
                &[
                    ("h1", Some(&new), Some("RUNNING")),
                    ("h2", Some(&new), Some("RUNNING")),
                ],
            ),
        ],
    )
    .await;
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        without_duration(&out),
        format!("{STARTED_WITH_DEFAULTS}\n\nh1 -> RUNNING (1/2)\nh2 -> RUNNING (2/2)\n\nDone.\n")
    );
    let lines: Vec<&str> = seen.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "GET /jobs?user=tester&q=foo",
            "POST /deployment-group/g/rolling-update?user=tester",
            "GET /deployment-group/g/status?user=tester",
            "GET /deployment-group/g/status?user=tester",
            "GET /deployment-group/g/status?user=tester",
            "GET /deployment-group/g/status?user=tester",
        ]
    );
    // Without flags, every option is sent unset: the master takes the job's or the defaults.
    assert_eq!(
        seen[1].body,
        format!(
            r#"{{"job":"{new}","rolloutOptions":{{"ignoreFailures":null,"migrate":null,"overlap":null,"parallelism":null,"timeout":null,"token":null}}}}"#
        )
    );
    assert!(key(&seen[1]).is_some(), "{:?}", seen[1].headers);
    assert_eq!(key(&seen[2]), None);
}

#[tokio::test]
async fn rolling_update_sends_the_flags_given_and_prints_them_over_the_jobs_options() {
    let new = new_job();
    let (code, out, _, seen) = rolling_update(
        &[
            "foo",
            "g",
            "--async",
            "-p",
            "2",
            "-t",
            "30",
            "--overlap",
            "--migrate",
            "--ignore-failures",
            "--token",
            "tok",
        ],
        vec![
            job_found(Some(r#"{"parallelism":5,"timeout":100}"#)),
            started(),
        ],
    )
    .await;
    assert_eq!(code, 0);
    // --async: no blank line, no wait.
    assert_eq!(
        out,
        "Rolling update (async) started: g -> foo:2:3f5c6e4 (parallelism=2, timeout=30, \
         overlap=true, token=tok, ignoreFailures=true, migrate=true)\n"
    );
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].body,
        format!(
            r#"{{"job":"{new}","rolloutOptions":{{"ignoreFailures":true,"migrate":true,"overlap":true,"parallelism":2,"timeout":30,"token":"tok"}}}}"#
        )
    );

    // A flag left out takes the job's value; a field the job leaves unset prints as Java's
    // printf prints null (Helios falls back to the job's options as a whole).
    let (code, out, _, seen) = rolling_update(
        &["foo", "g", "--async", "-p", "3"],
        vec![
            job_found(Some(r#"{"timeout":100,"overlap":true}"#)),
            started(),
        ],
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Rolling update (async) started: g -> foo:2:3f5c6e4 (parallelism=3, timeout=100, \
         overlap=true, token=null, ignoreFailures=false, migrate=false)\n"
    );
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).expect("json");
    assert_eq!(
        body["rolloutOptions"],
        serde_json::json!({"ignoreFailures":null,"migrate":null,"overlap":null,
                           "parallelism":3,"timeout":null,"token":null})
    );
}

#[tokio::test]
async fn rolling_update_json_forms() {
    let new = new_job();
    let (code, out, _, _) = rolling_update(
        &["foo", "g", "--async", "--json", "--token", "my_token"],
        vec![job_found(None), started()],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "{\"ignoreFailures\":false,\"migrate\":false,\"overlap\":false,\"parallelism\":1,\
             \"status\":\"OK\",\"timeout\":300,\"token\":\"my_token\"}\n"
        )
    );

    let running = [("h1", Some(new.as_str()), Some("RUNNING"))];
    let (code, out, _, _) = rolling_update(
        &["foo", "g", "--json"],
        vec![
            job_found(None),
            started(),
            rolling(&running),
            group_status("ACTIVE", &new, None, &running),
        ],
    )
    .await;
    assert_eq!(code, 0);
    // Nothing but the one object: no progress lines.
    assert_eq!(out.lines().count(), 1, "{out}");
    let mut done: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(done["duration"].as_f64().is_some_and(|d| d >= 0.0), "{out}");
    done.as_object_mut().expect("object").remove("duration");
    assert_eq!(
        done,
        serde_json::json!({"ignoreFailures":false,"migrate":false,"overlap":false,
                           "parallelism":1,"status":"DONE","timeout":300,"token":""})
    );

    let (code, out, _, _) = rolling_update(
        &["foo", "g", "--json", "-p", "2"],
        vec![
            job_found(None),
            started(),
            group_status("FAILED", &new, Some("h1: boom"), &running),
        ],
    )
    .await;
    assert_eq!(code, 1);
    let failed: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (&failed["status"], &failed["error"], &failed["parallelism"]),
        (
            &serde_json::json!("FAILED"),
            &serde_json::json!("h1: boom"),
            &serde_json::json!(2)
        )
    );
    assert!(failed["duration"].is_f64(), "{out}");

    let (code, out, _, _) = rolling_update(
        &["foo", "g", "--json"],
        vec![job_found(None), ok(r#"{"status":"JOB_NOT_FOUND"}"#)],
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (1, "{\"status\":\"JOB_NOT_FOUND\"}\n")
    );
}

#[tokio::test]
async fn rolling_update_fails_with_the_groups_error() {
    let new = new_job();
    let (code, out, _, seen) = rolling_update(
        &["foo", "g"],
        vec![
            job_found(None),
            started(),
            rolling(&[("h1", Some(&new), Some("PULLING_IMAGE"))]),
            group_status(
                "FAILED",
                &new,
                Some("h1: timed out waiting for job to reach state RUNNING"),
                &[("h1", Some(&new), Some("PULLING_IMAGE"))],
            ),
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        without_duration(&out),
        format!(
            "{STARTED_WITH_DEFAULTS}\n\n\nFailed: h1: timed out waiting for job to reach state RUNNING\n"
        )
    );
    assert_eq!(seen.len(), 4);
}

#[tokio::test]
async fn rolling_update_stops_waiting_when_the_groups_job_changes() {
    let new = new_job();
    let newer = format!("foo:3:{HASH}");
    let (code, out, _, seen) = rolling_update(
        &["foo", "g"],
        vec![
            job_found(None),
            started(),
            rolling(&[("h1", Some(&new), Some("RUNNING")), ("h2", None, None)]),
            group_status(
                "ROLLING_OUT",
                &newer,
                None,
                &[("h1", Some(&new), Some("RUNNING"))],
            ),
            rolling(&[("h1", Some(&new), Some("RUNNING"))]),
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        without_duration(&out),
        format!(
            "{STARTED_WITH_DEFAULTS}\n\nh1 -> RUNNING (1/2)\n\n\
             Failed: Deployment-group job id changed during rolling-update\n"
        )
    );
    // It stopped at the read that showed the other job.
    assert_eq!(seen.len(), 4);

    // A group removed under the wait fails it too.
    let (code, out, _, _) =
        rolling_update(&["foo", "g"], vec![job_found(None), started(), not_found()]).await;
    assert_eq!(code, 1);
    assert!(
        without_duration(&out).ends_with("\n\nFailed: Failed to fetch deployment-group status\n"),
        "{out}"
    );
}

#[tokio::test]
async fn rolling_update_times_out_but_leaves_the_rollout_going() {
    let new = new_job();
    let pending = rolling(&[("h1", Some(&new), Some("PULLING_IMAGE"))]);
    let mut script = vec![job_found(None), started()];
    script.extend(std::iter::repeat_n(pending, 200));
    let begun = std::time::Instant::now();
    // -T 1 is one minute of the test pace: 200 ms.
    let (code, out, _, seen) = rolling_update(&["foo", "g", "-T", "1"], script.clone()).await;
    assert!(begun.elapsed() >= FAST.minute);
    assert_eq!(code, 1);
    assert_eq!(
        without_duration(&out),
        format!("{STARTED_WITH_DEFAULTS}\n\n\nTimed out! (rolling-update still in progress)\n")
    );
    // It kept reading until the deadline, and did nothing else: no stop request.
    assert!(seen.len() > 3, "{}", seen.len());
    assert!(seen[2..].iter().all(|s| s.line.starts_with("GET ")));

    let (code, out, _, _) = rolling_update(&["foo", "g", "-T", "1", "--json"], script).await;
    assert_eq!(code, 1);
    let timeout: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(timeout["status"], "TIMEOUT");
    assert!(
        timeout["duration"].as_f64().is_some_and(|d| d >= 0.2),
        "{out}"
    );
    assert!(timeout.get("error").is_none(), "{out}");
}

#[tokio::test]
async fn rolling_update_request_failures() {
    let missing = ok(r#"{"status":"DEPLOYMENT_GROUP_NOT_FOUND"}"#);
    let (code, out, _, seen) = helios(
        &["rolling-update", "foo", "nope"],
        vec![job_found(None), missing.clone()],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            "Failed: RollingUpdateResponse{status=DEPLOYMENT_GROUP_NOT_FOUND}\n"
        )
    );
    assert_eq!(
        seen[1].line,
        "POST /deployment-group/nope/rolling-update?user=tester"
    );
    // A 400 naming one of the statuses is read the same, as Helios's client reads it.
    let (code, out, _, _) = helios(
        &["rolling-update", "foo", "g"],
        vec![
            job_found(None),
            (400, r#"{"status":"JOB_NOT_FOUND"}"#.into()),
        ],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (1, "Failed: RollingUpdateResponse{status=JOB_NOT_FOUND}\n")
    );
    // Options the master refuses: its error, on one line on stderr.
    let refused =
        r#"{"status":"INVALID_ROLLOUT_OPTIONS","message":"parallelism must be positive"}"#;
    let (code, out, err, _) = helios(
        &["rolling-update", "foo", "g"],
        vec![job_found(None), (400, refused.into())],
        "",
    )
    .await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!(
            "Request failed: POST /deployment-group/g/rolling-update answered 400: {refused}\n"
        )
    );
    // The job is looked up like deploy's.
    let (code, out, _, seen) = helios(&["rolling-update", "nope", "g"], vec![ok("{}")], "").await;
    assert_eq!((code, out.as_str()), (1, "Unknown job: nope\n"));
    assert_eq!(seen.len(), 1);
}

#[tokio::test]
async fn rolling_update_checks_its_numbers_before_asking_the_master() {
    for (flags, message) in [
        (["-p", "0"], "Parallelism must be greater than 0 (-p/--par)"),
        (
            ["--par", "-3"],
            "Parallelism must be greater than 0 (-p/--par)",
        ),
        (["-t", "0"], "Timeout must be greater than 0 (-t/--timeout)"),
        (
            ["-T", "0"],
            "Rollout timeout must be greater than 0 (-T/--rollout-timeout)",
        ),
    ] {
        let argv = [&["rolling-update", "foo", "g"][..], &flags[..]].concat();
        let (code, out, err, seen) = helios(&argv, vec![job_found(None), started()], "").await;
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (1, "", format!("{message}\n").as_str()),
            "{flags:?}"
        );
        assert!(seen.is_empty(), "{flags:?}");
    }
}

#[tokio::test]
async fn rolling_update_stops_at_the_first_cluster_where_it_fails() {
    let clusters = || async {
        let (one, seen_one) = serve(vec![
            job_found(None),
            ok(r#"{"status":"DEPLOYMENT_GROUP_NOT_FOUND"}"#),
        ])
        .await;
        let (two, seen_two) = serve(vec![job_found(None), started()]).await;
        (one, seen_one, two, seen_two)
    };
    let (one, seen_one, two, seen_two) = clusters().await;
    let targets = vec![target("one", &one), target("two", &two)];
    let (code, out) = on_targets(&["rolling-update", "foo", "g", "--async"], targets, 100).await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "one ([{one}/])\n{}\nFailed: RollingUpdateResponse{{status=DEPLOYMENT_GROUP_NOT_FOUND}}\n\n",
            "-".repeat(format!("one ([{one}/])").len())
        )
    );
    assert_eq!(seen_one.lock().expect("lock").len(), 2);
    assert!(seen_two.lock().expect("lock").is_empty());
    // JSON stays one valid object.
    let (one, _, two, seen_two) = clusters().await;
    let (code, out) = on_targets(
        &["rolling-update", "foo", "g", "--async", "--json"],
        vec![target("one", &one), target("two", &two)],
        100,
    )
    .await;
    assert!(seen_two.lock().expect("lock").is_empty());
    assert_eq!(code, 1);
    let value: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(
        value,
        serde_json::json!({"one": {"status": "DEPLOYMENT_GROUP_NOT_FOUND"}})
    );
}

#[tokio::test]
async fn stop_reports_stopped_not_found_or_the_status() {
    let (code, out, _, seen) = helios(
        &["stop-deployment-group", "my group"],
        vec![(204, String::new())],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (0, "Deployment-group my group stopped\n")
    );
    assert_eq!(
        seen[0].line,
        "POST /deployment-group/my%20group/stop?user=tester"
    );
    assert!(key(&seen[0]).is_some());
    // No JSON form, as in Helios: --json prints the same line.
    for argv in [
        &["stop-deployment-group", "g"][..],
        &["stop-deployment-group", "g", "--json"],
    ] {
        let (code, out, _, _) = helios(argv, vec![not_found()], "").await;
        assert_eq!(
            (code, out.as_str()),
            (1, "Deployment-group g not found\n"),
            "{argv:?}"
        );
    }
    let (code, out, _, _) = helios(
        &["stop-deployment-group", "g"],
        vec![(500, "boom".into())],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (1, "Failed to stop deployment-group g. Status: 500\n")
    );
}

/// `watch-deployment-group` output without the time-stamped separators.
fn without_group_separators(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| !l.starts_with(&"-".repeat(54)))
        .collect()
}

#[tokio::test]
async fn watch_prints_each_hosts_state_every_round_until_stdout_closes() {
    let new = new_job();
    let (url, seen) = serve(vec![
        rolling(&[
            ("h1", Some(&new), Some("PULLING_IMAGE")),
            ("h2", None, None),
        ]),
        group_status(
            "ACTIVE",
            &new,
            None,
            &[
                ("h1", Some(&new), Some("RUNNING")),
                ("h2", Some(&new), Some("RUNNING")),
            ],
        ),
    ])
    .await;
    // The header, then two rounds of a separator and a report; the third separator fails.
    let (code, out) = on_targets(
        &["watch-deployment-group", "g", "-f", "--interval", "0"],
        vec![target("one", &url)],
        5,
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        without_group_separators(&out),
        [
            "Control-C to stop",
            "STATUS               HOST                           STATE",
            "ROLLING_OUT          h1                             PULLING_IMAGE",
            "ROLLING_OUT          h2                             -",
            "ACTIVE               h1                             RUNNING",
            "ACTIVE               h2                             RUNNING",
        ]
    );
    let separators: Vec<&str> = out.lines().filter(|l| l.ends_with(" UTC]")).collect();
    assert_eq!(separators.len(), 2, "{out}");
    assert!(separators.iter().all(|l| l.len() == 80), "{out}");
    let lines: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|s| s.line.clone())
        .collect();
    assert_eq!(lines, ["GET /deployment-group/g/status?user=tester"; 2]);

    // Without -f, host names are shown as deployment-group-status shows them.
    let (url, _) = serve(vec![rolling(&[("h1", None, None)])]).await;
    let (_, out) = on_targets(
        &["watch-deployment-group", "g", "--interval", "0"],
        vec![target("one", &url)],
        3,
    )
    .await;
    assert_eq!(
        without_group_separators(&out)[2],
        "ROLLING_OUT          h1.                            -"
    );
}

#[tokio::test]
async fn watch_of_an_unknown_group_fails() {
    let (code, out, _, _) =
        helios(&["watch-deployment-group", "nope"], vec![not_found()], "").await;
    assert_eq!(code, 1);
    assert_eq!(
        without_group_separators(&out),
        [
            "Control-C to stop",
            "STATUS               HOST                           STATE",
            "Unknown deployment group: nope",
        ]
    );
    let (code, out, _, _) = helios(
        &["watch-deployment-group", "nope", "--json"],
        vec![not_found()],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (1, "{\"status\":\"DEPLOYMENT_GROUP_NOT_FOUND\"}\n")
    );
}

#[tokio::test]
async fn watch_json_prints_the_status_each_round() {
    let idle =
        r#"{"deploymentGroup":{"name":"g","hostSelectors":[]},"hostStatuses":[],"status":"IDLE"}"#;
    let (url, seen) = serve(vec![ok(idle), ok(idle), ok(idle)]).await;
    // No header or separators: each round is one write, and the third fails.
    let (code, out) = on_targets(
        &["watch-deployment-group", "g", "--json", "--interval", "0"],
        vec![target("one", &url)],
        2,
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(seen.lock().expect("lock").len(), 3);
    let round = "{\n  \"deploymentGroup\" : {\n    \"hostSelectors\" : [ ],\n    \"name\" : \"g\"\n  },\n  \
                 \"deploymentGroupStatus\" : null,\n  \"error\" : null,\n  \"hostStatuses\" : [ ],\n  \
                 \"status\" : \"IDLE\"\n}\n";
    assert_eq!(out, format!("{round}{round}"));
}
