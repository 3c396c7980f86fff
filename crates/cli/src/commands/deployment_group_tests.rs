//! End-to-end tests of the deployment-group commands (`create-deployment-group`,
//! `remove-deployment-group`, `list-deployment-groups`, `inspect-deployment-group`,
//! `deployment-group-status`) against a scripted master: each test checks the requests
//! sent, the exact output and the exit code.

use super::tests::helios;
use crate::client::testing::Seen;

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
    let (code, out, _, _) = helios(&["list-deployment-groups", "--json"], vec![ok("[]")], "").await;
    assert_eq!((code, out.as_str()), (0, "[ ]\n"));
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
