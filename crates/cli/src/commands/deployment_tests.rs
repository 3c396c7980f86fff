//! End-to-end tests of the deployment and host commands (`deploy`,
//! `undeploy`, `start`, `stop`, `status`, `history`, `watch`, `hosts`,
//! `register`, `deregister`, `jobs -y`) against a scripted master: each test
//! checks the requests sent, the exact output and the exit code.

use std::io::Write;

use super::tests::{helios, test_config};
use super::{Context, run};
use crate::args::Cli;
use crate::client::testing::serve;
use crate::target::{Target, parse_endpoint};
use clap::Parser;

const HASH: &str = "3f5c6e4aef30e1ab68931dbd66a83226410b87e9";

fn id() -> String {
    format!("foo:1:{HASH}")
}

fn jobs_answer() -> (u16, String) {
    let id = id();
    (
        200,
        format!(r#"{{"{id}":{{"id":"{id}","image":"busybox"}}}}"#),
    )
}

fn ok(body: &str) -> (u16, String) {
    (200, body.to_string())
}

/// A task status JSON for the test job.
fn task(state: &str, extra: &str) -> String {
    let id = id();
    format!(
        r#"{{"job":{{"id":"{id}","image":"busybox"}},"goal":"START","state":"{state}"{extra}}}"#
    )
}

/// A `POST /jobs/statuses` answer for the test job.
fn statuses(deployed: &[&str], tasks: &[(&str, String)]) -> (u16, String) {
    let id = id();
    let deployments: Vec<String> = deployed
        .iter()
        .map(|h| format!(r#""{h}":{{"goal":"START","jobId":"{id}"}}"#))
        .collect();
    let tasks: Vec<String> = tasks.iter().map(|(h, t)| format!(r#""{h}":{t}"#)).collect();
    ok(&format!(
        r#"{{"{id}":{{"job":{{"id":"{id}","image":"busybox"}},"deployments":{{{}}},"taskStatuses":{{{}}}}}}}"#,
        deployments.join(","),
        tasks.join(",")
    ))
}

fn deployment_line(goal: &str, hosts: &str) -> String {
    format!(
        "Deploying Deployment{{jobId={}, goal={goal}, deployerUser='null', deployerMaster='null', deploymentGroupName='null'}} on {hosts}\n",
        id()
    )
}

#[tokio::test]
async fn deploy_resolves_hosts_and_reports_each() {
    let id = id();
    let (code, out, _, seen) = helios(
        &["deploy", "foo", "h1", "h2", "--token", "t"],
        vec![
            jobs_answer(),
            ok(r#"["h1.example.com","h2","h3"]"#),
            ok(&format!(
                r#"{{"host":"h1.example.com","job":"{id}","status":"OK"}}"#
            )),
            (
                400,
                format!(r#"{{"host":"h2","job":"{id}","status":"JOB_ALREADY_DEPLOYED"}}"#),
            ),
        ],
        "",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "{}h1.example.com: done\nh2: failed: JobDeployResponse{{status=JOB_ALREADY_DEPLOYED, job={id}, host='h2'}}\n",
            deployment_line("START", "[h1, h2]")
        )
    );
    assert_eq!(seen[1].line, "GET /hosts?user=tester");
    assert_eq!(
        seen[2].line,
        format!("PUT /hosts/h1.example.com/jobs/{id}?user=tester&token=t")
    );
    assert_eq!(
        seen[2].body,
        format!(r#"{{"goal":"START","jobId":"{id}"}}"#)
    );
    assert_eq!(
        seen[3].line,
        format!("PUT /hosts/h2/jobs/{id}?user=tester&token=t")
    );
}

#[tokio::test]
async fn deploy_json_and_no_start() {
    let id = id();
    let (code, out, _, seen) = helios(
        &["deploy", "foo", "h1", "--no-start", "--json"],
        vec![
            jobs_answer(),
            ok(r#"["h1"]"#),
            ok(&format!(r#"{{"host":"h1","job":"{id}","status":"OK"}}"#)),
        ],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("{{\"host\":\"h1\",\"job\":\"{id}\",\"status\":\"OK\"}}\n")
    );
    assert_eq!(seen[2].body, format!(r#"{{"goal":"STOP","jobId":"{id}"}}"#));
    let (code, out, _, _) = helios(&["deploy", "nope", "h1"], vec![ok("{}")], "").await;
    assert_eq!((code, out.as_str()), (1, "Unknown job: nope\n"));
}

/// Output lines without the time-stamped separators.
fn without_separators(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| !l.starts_with("-------------------- "))
        .collect()
}

#[tokio::test]
async fn deploy_watch_until_running() {
    let id = id();
    let (code, out, _, seen) = helios(
        &["deploy", "foo", "h1", "--watch", "--interval", "0"],
        vec![
            jobs_answer(),
            ok(r#"["h1"]"#),
            ok(&format!(r#"{{"host":"h1","job":"{id}","status":"OK"}}"#)),
            statuses(&["h1"], &[]),
            statuses(&["h1"], &[("h1", task("PULLING_IMAGE", ""))]),
            statuses(&["h1"], &[("h1", task("RUNNING", ""))]),
        ],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        without_separators(&out),
        [
            deployment_line("START", "[h1]").trim_end(),
            "h1: done",
            "Control-C to stop",
            "JOB                  HOST                           STATE    THROTTLED?",
            "foo:1:3f5c6e4        h1                             UNKNOWN  UNKNOWN",
            "foo:1:3f5c6e4        h1                             PULLING_IMAGE NO",
            "foo:1:3f5c6e4        h1                             RUNNING  NO",
        ]
    );
    assert_eq!(out.matches(" UTC]\n").count(), 3);
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[3].body, format!(r#"["{id}"]"#));
}

#[tokio::test]
async fn deploy_watch_stops_on_failure() {
    let failed = task("FAILED", r#","throttled":"IMAGE_MISSING""#);
    let (code, out, _, _) = helios(
        &["deploy", "foo", "h1", "--watch", "--interval", "0"],
        vec![
            jobs_answer(),
            ok(r#"["h1"]"#),
            ok(r#"{"status":"OK"}"#),
            statuses(&["h1"], &[("h1", failed)]),
        ],
        "",
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        out.ends_with(
            "foo:1:3f5c6e4        h1                             FAILED   IMAGE_MISSING\n"
        )
    );
}

#[tokio::test]
async fn undeploy_failure_exits_255() {
    let id = id();
    let (code, out, _, seen) = helios(
        &["undeploy", "foo", "h1", "h2"],
        vec![
            jobs_answer(),
            ok(r#"["h1","h2"]"#),
            ok(&format!(r#"{{"host":"h1","job":"{id}","status":"OK"}}"#)),
            // A body that only names the status is enough.
            (
                404,
                r#"{"message":"no such host","status":"HOST_NOT_FOUND"}"#.into(),
            ),
        ],
        "",
    )
    .await;
    assert_eq!(code, 255);
    assert_eq!(
        out,
        format!(
            "Undeploying {id} from [h1, h2]\nh1: done\nh2: failed: JobUndeployResponse{{status=HOST_NOT_FOUND, job={id}, host='h2'}}\n"
        )
    );
    assert_eq!(
        seen[3].line,
        format!("DELETE /hosts/h2/jobs/{id}?user=tester&token=")
    );
}

#[tokio::test]
async fn undeploy_needs_hosts_or_all() {
    let id = id();
    let (code, out, _, seen) = helios(&["undeploy", "foo"], vec![jobs_answer()], "").await;
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            "Please either specify a list of hosts or use the -a/--all flag.\n"
        )
    );
    assert_eq!(seen.len(), 1);

    let nothing = format!(
        r#"{{"job":{{"id":"{id}","image":"busybox"}},"deployments":{{}},"taskStatuses":{{}}}}"#
    );
    let (code, out, _, seen) = helios(
        &["undeploy", "foo", "-a"],
        vec![jobs_answer(), ok(&nothing)],
        "",
    )
    .await;
    assert_eq!(
        (code, out),
        (0, format!("{id} is not currently deployed on any hosts.\n"))
    );
    assert_eq!(seen[1].line, format!("GET /jobs/{id}/status?user=tester"));
}

#[tokio::test]
async fn undeploy_all_asks_first() {
    let id = id();
    let two = format!(
        r#"{{"job":{{"id":"{id}","image":"busybox"}},"deployments":{{"h1":{{"goal":"START","jobId":"{id}"}},"h2":{{"goal":"STOP","jobId":"{id}"}}}},"taskStatuses":{{}}}}"#
    );
    let (code, out, _, seen) = helios(
        &["undeploy", "foo", "-a"],
        vec![jobs_answer(), ok(&two)],
        "n\n",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!("This will undeploy {id} from [h1, h2]\nDo you want to continue? [y/N]\n")
    );
    assert_eq!(seen.len(), 2);

    let done = format!(r#"{{"host":"h","job":"{id}","status":"OK"}}"#);
    let (code, out, _, _) = helios(
        &["undeploy", "foo", "--all", "--yes"],
        vec![
            jobs_answer(),
            ok(&two),
            ok(r#"["h1","h2"]"#),
            ok(&done),
            ok(&done),
        ],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("Undeploying {id} from [h1, h2]\nh1: done\nh2: done\n")
    );
}

#[tokio::test]
async fn start_and_stop_patch_the_goal() {
    let id = id();
    let (code, out, _, seen) = helios(
        &["start", "foo", "h1", "--token", "t"],
        vec![
            jobs_answer(),
            ok(&format!(r#"{{"host":"h1","job":"{id}","status":"OK"}}"#)),
        ],
        "",
    )
    .await;
    assert_eq!(
        (code, out),
        (0, format!("Starting {id} on [h1]\nh1: done\n"))
    );
    assert_eq!(
        seen[1].line,
        format!("PATCH /hosts/h1/jobs/{id}?user=tester&token=t")
    );
    assert_eq!(
        seen[1].body,
        format!(r#"{{"goal":"START","jobId":"{id}"}}"#)
    );

    let (code, out, _, seen) = helios(
        &["stop", "foo", "h1"],
        vec![
            jobs_answer(),
            (
                404,
                format!(r#"{{"host":"h1","job":"{id}","status":"JOB_NOT_DEPLOYED"}}"#),
            ),
        ],
        "",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "Stopping {id} on [h1]\nh1: failed: SetGoalResponse{{status=JOB_NOT_DEPLOYED, host=h1, job={id}}}\n"
        )
    );
    assert_eq!(seen[1].body, format!(r#"{{"goal":"STOP","jobId":"{id}"}}"#));

    // A bare 403 still reads as FORBIDDEN.
    let (code, out, _, _) = helios(
        &["stop", "foo", "h1", "--json"],
        vec![jobs_answer(), (403, String::new())],
        "",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!("{{\"host\":\"h1\",\"job\":\"{id}\",\"status\":\"FORBIDDEN\"}}\n")
    );
}

#[tokio::test]
async fn status_table_and_queries() {
    let id = id();
    let running = task(
        "RUNNING",
        r#","containerId":"abcdef0123456789","ports":{"http":{"internalPort":80,"externalPort":20000,"protocol":"tcp"}}"#,
    );
    let (code, out, _, seen) = helios(
        &["status", "-j", "foo", "-f"],
        vec![
            jobs_answer(),
            statuses(&["h1", "h2"], &[("h1", running.clone())]),
        ],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "JOB ID{pad}    HOST    GOAL     STATE      CONTAINER ID        PORTS            \n\
             {id}    h1      START    RUNNING    abcdef0123456789    http=80:20000    \n\
             {id}    h2      START                                                    \n",
            pad = " ".repeat(id.len() - 6)
        )
    );
    assert_eq!(seen[0].line, "GET /jobs?user=tester&q=foo");
    assert_eq!(seen[1].line, "POST /jobs/statuses?user=tester");
    assert_eq!(seen[1].body, format!(r#"["{id}"]"#));

    let (code, out, _, seen) = helios(
        &["status", "--host", "h1", "--json"],
        vec![jobs_answer(), statuses(&["h1", "h2"], &[("h1", running)])],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(seen[0].line, "GET /jobs?user=tester&hostPattern=h1");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let deployments = json[&id]["deployments"].as_object().expect("deployments");
    assert_eq!(deployments.keys().collect::<Vec<_>>(), ["h1"]);
    assert_eq!(
        json[&id]["taskStatuses"]["h1"]["containerId"],
        "abcdef0123456789"
    );
}

#[tokio::test]
async fn status_without_filters_or_matches() {
    let (code, out, _, _) = helios(&["status"], vec![ok("{}")], "").await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "WARNING: listing status of all hosts in the cluster is a slow operation. Consider adding the --job and/or --host flag(s)!\
         There are no jobs deployed to hosts with the host pattern ''\n\
         Run 'helios  hosts ' to check your host exists and is up.\n"
    );
    let (code, out, _, _) = helios(&["status", "-j", "nope"], vec![ok("{}")], "").await;
    assert_eq!(
        (code, out.as_str()),
        (1, "job id matcher \"nope\" matched no jobs\n")
    );
    let (code, out, _, _) = helios(&["status", "-j", "nope", "--json"], vec![ok("{}")], "").await;
    assert_eq!((code, out.as_str()), (1, "{ }\n"));
    let (code, out, _, _) = helios(
        &["status", "--host", "zzz"],
        vec![jobs_answer(), statuses(&["h1"], &[])],
        "",
    )
    .await;
    assert_eq!(code, 1);
    assert!(out.starts_with("There are no jobs deployed to hosts with the host pattern 'zzz'\n"));
    // Without -f the table starts with the warning on the same line.
    let (code, out, _, _) =
        helios(&["status"], vec![jobs_answer(), statuses(&["h1"], &[])], "").await;
    assert_eq!(code, 0);
    assert!(out.contains("flag(s)!JOB ID           HOST"), "{out}");
}

#[tokio::test]
async fn history_lists_events() {
    let id = id();
    let events = format!(
        r#"{{"events":[{{"host":"h1","timestamp":1407767864987,"status":{}}},{{"host":"h1","timestamp":1407767865387,"status":{}}}],"status":"OK"}}"#,
        task("CREATING", ""),
        task("RUNNING", r#","containerId":"60671498ae98""#)
    );
    let (code, out, _, seen) =
        helios(&["history", "foo"], vec![jobs_answer(), ok(&events)], "").await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0]
            .starts_with("HOST    TIMESTAMP                  STATE       THROTTLED    CONTAINERID")
    );
    assert!(lines[1].starts_with("h1      2014-08-1"));
    assert!(lines[1].ends_with("CREATING    NO           <none>          "));
    assert!(lines[2].ends_with("RUNNING     NO           60671498ae98    "));
    assert_eq!(seen[1].line, format!("GET /history/jobs/{id}?user=tester"));

    let (code, out, _, _) = helios(
        &["history", "foo", "--json"],
        vec![jobs_answer(), ok(&events)],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("{\n  \"events\" : [ {\n    \"host\" : \"h1\",\n"),
        "{out}"
    );
    assert!(out.ends_with("  \"status\" : \"OK\"\n}\n"));

    let two = format!(
        r#"{{"a:1:{HASH}":{{"id":"a:1:{HASH}","image":"i"}},"a:10:{HASH}":{{"id":"a:10:{HASH}","image":"i"}}}}"#
    );
    let (code, out, _, _) = helios(&["history", "a:1", "--json"], vec![ok(&two)], "").await;
    assert_eq!((code, out.as_str()), (1, "Ambiguous job id: a:1\n"));
}

fn host_status(labels: &str) -> String {
    format!(
        r#"{{"status":"UP","jobs":{{}},"statuses":{{}},"hostInfo":{{"cpus":2,"memoryTotalBytes":4294967296,"memoryFreeBytes":1073741824,"loadAvg":0.5,"osName":"Linux","osVersion":"6.8","dockerVersion":{{"version":"27.3.1","apiVersion":"1.47"}}}},"agentInfo":null,"environment":{{}},"labels":{labels}}}"#
    )
}

#[tokio::test]
async fn hosts_table_with_selectors_and_status() {
    let (code, out, _, seen) = helios(
        &[
            "hosts",
            "-f",
            "-s",
            "role=web",
            "-s",
            "dc in (a, b)",
            "-s",
            "role=web",
            "--status",
            "UP",
        ],
        vec![
            ok(r#"["h1"]"#),
            ok(&format!(r#"{{"h1":{}}}"#, host_status(r#"{"role":"web"}"#))),
        ],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        seen[0].line,
        "GET /hosts?user=tester&selector=role%3Dweb&selector=dc+in+%28a%2C+b%29"
    );
    assert_eq!(seen[1].line, "POST /hosts/statuses?user=tester&status=UP");
    assert_eq!(seen[1].body, r#"["h1"]"#);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "HOST    STATUS    DEPLOYED    RUNNING    CPUS    MEM     LOAD AVG    MEM USAGE    OS           HELIOS    DOCKER           LABELS      ",
            "h1      Up        0           0          2       4 gb    0.50        0.75         Linux 6.8              27.3.1 (1.47)    role=web    ",
        ]
    );
}

#[tokio::test]
async fn hosts_quiet_json_and_no_match() {
    let (code, out, _, seen) =
        helios(&["hosts", "-q", "-f", "h"], vec![ok(r#"["h2","h1"]"#)], "").await;
    assert_eq!((code, out.as_str()), (0, "h1\nh2\n"));
    assert_eq!(seen[0].line, "GET /hosts?user=tester&namePattern=h");
    assert_eq!(seen.len(), 1);
    let (code, out, _, _) =
        helios(&["hosts", "-q", "--json"], vec![ok(r#"["h2","h1"]"#)], "").await;
    assert_eq!((code, out.as_str()), (0, "[ \"h1\", \"h2\" ]\n"));
    let (code, out, _, _) = helios(&["hosts", "zzz"], vec![ok("[]")], "").await;
    assert_eq!(
        (code, out.as_str()),
        (1, "host pattern zzz matched no hosts\n")
    );
    let (code, out, _, _) = helios(&["hosts", "zzz", "-q"], vec![ok("[]")], "").await;
    assert_eq!((code, out.as_str()), (1, ""));
    let (code, out, _, _) = helios(&["hosts", "--json"], vec![ok("[]")], "").await;
    assert_eq!((code, out.as_str()), (1, "{ }\n"));
    let (code, out, _, _) = helios(
        &["hosts", "--json"],
        vec![
            ok(r#"["h1"]"#),
            ok(&format!(r#"{{"h1":{}}}"#, host_status("{}"))),
        ],
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("{\n  \"h1\" : {\n    \"agentInfo\" : null,\n"),
        "{out}"
    );
}

/// `-q --status DOWN` lists only the hosts the master reports DOWN (it once ignored the
/// filter and listed every host), also with `--json`.
#[tokio::test]
async fn hosts_quiet_with_status_lists_only_that_status() {
    let down = format!(
        r#"{{"h3":{},"h1":{}}}"#,
        host_status("{}").replace(r#""status":"UP""#, r#""status":"DOWN""#),
        host_status("{}").replace(r#""status":"UP""#, r#""status":"DOWN""#),
    );
    let (code, out, _, seen) = helios(
        &["hosts", "-q", "-f", "--status", "DOWN"],
        vec![ok(r#"["h3","h2","h1"]"#), ok(&down)],
        "",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "h1\nh3\n"));
    assert_eq!(seen[1].line, "POST /hosts/statuses?user=tester&status=DOWN");
    assert_eq!(seen[1].body, r#"["h3","h2","h1"]"#);
    let (code, out, _, _) = helios(
        &["hosts", "-q", "--json", "--status", "DOWN"],
        vec![ok(r#"["h3","h2","h1"]"#), ok(&down)],
        "",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "[ \"h1\", \"h3\" ]\n"));
}

#[tokio::test]
async fn hosts_rejects_bad_selectors_before_asking() {
    let (code, out, err, seen) = helios(&["hosts", "-s", "role"], vec![], "").await;
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "Bad host selector expression: 'role'\n")
    );
    assert!(seen.is_empty());
}

#[tokio::test]
async fn register_and_deregister() {
    let (code, out, _, seen) = helios(&["register", "h1", "id-1"], vec![ok("")], "").await;
    assert_eq!(
        (code, out.as_str()),
        (0, "Registering host h1 with id id-1\nh1: done\n")
    );
    assert_eq!(seen[0].line, "PUT /hosts/h1?user=tester&id=id-1");
    let (code, out, _, _) = helios(
        &["register", "h1", "id-1"],
        vec![(400, r#"{"host":"h1","status":"INVALID_ID"}"#.into())],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (1, "Registering host h1 with id id-1\nh1: failed: 400\n")
    );

    let (code, out, _, seen) = helios(&["deregister", "web"], vec![], "no\n").await;
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            "This will deregister the host web\nDo you want to continue? [y/N]\n"
        )
    );
    assert!(seen.is_empty());

    let (code, out, _, seen) = helios(
        &["deregister", "web", "--yes"],
        vec![
            (404, r#"{"host":"web","status":"NOT_FOUND"}"#.into()),
            ok(r#"["web2","db1","web1"]"#),
        ],
        "",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Deregistering host web\n\
         web: failed: HostDeregisterResponse{status=NOT_FOUND, host='web'}\n\
         We didn't find your hostname, but we did find some possible matches for you:\n    web1\n    web2\n\n"
    );
    assert_eq!(seen[0].line, "DELETE /hosts/web?user=tester");

    let (code, out, _, _) = helios(
        &["deregister", "web1", "--yes"],
        vec![ok(r#"{"host":"web1","status":"OK"}"#)],
        "",
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (0, "Deregistering host web1\nweb1: done\n")
    );
}

#[tokio::test]
async fn jobs_y_lists_only_deployed_jobs() {
    let a = format!("a:1:{HASH}");
    let b = format!("b:1:{HASH}");
    let jobs = format!(r#"{{"{a}":{{"id":"{a}","image":"i"}},"{b}":{{"id":"{b}","image":"i"}}}}"#);
    let statuses = format!(
        r#"{{"{a}":{{"job":{{"id":"{a}","image":"i"}},"deployments":{{}}}},"{b}":{{"job":{{"id":"{b}","image":"i"}},"deployments":{{"h1":{{"goal":"START","jobId":"{b}"}}}}}}}}"#
    );
    let (code, out, _, _) = helios(&["jobs", "-y", "-q"], vec![ok(&jobs), ok(&statuses)], "").await;
    assert_eq!((code, out), (0, format!("{b}\n")));
}

#[tokio::test]
async fn jobs_writes_its_table_at_once_and_stops_quietly_on_a_closed_stdout() {
    let a = format!("a:1:{HASH}");
    let b = format!("b:1:{HASH}");
    let jobs = format!(r#"{{"{a}":{{"id":"{a}","image":"i"}},"{b}":{{"id":"{b}","image":"i"}}}}"#);
    let statuses = format!(r#"{{"{a}":{{"deployments":{{}}}},"{b}":{{"deployments":{{}}}}}}"#);
    let answers = || vec![ok(&jobs), ok(&statuses)];
    // The header and both rows go out in one write (a write per line would fail here).
    let (url, _) = serve(answers()).await;
    let (code, out) = on_targets(&["jobs"], vec![target("one", &url)], 1).await;
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "{out}");
    let (url, _) = serve(answers()).await;
    let (code, out) = on_targets(&["jobs"], vec![target("one", &url)], 0).await;
    assert_eq!((code, out.as_str()), (1, ""));
}

/// Stdout that accepts `writes` writes, then fails like a closed pipe.
struct ClosingPipe {
    written: Vec<u8>,
    writes: usize,
}

impl Write for ClosingPipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.writes == 0 {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        self.writes -= 1;
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `helios <argv…>` over several targets with a stdout that closes after `writes`
/// writes, which is how the watching commands end.
pub(super) async fn on_targets(
    argv: &[&str],
    targets: Vec<Target>,
    writes: usize,
) -> (i32, String) {
    let mut full = vec!["helios"];
    full.extend_from_slice(argv);
    let cli = Cli::try_parse_from(full).expect("argv parses");
    let config = test_config();
    let mut out = ClosingPipe {
        written: Vec::new(),
        writes,
    };
    let mut err = Vec::new();
    let mut input = &b""[..];
    let mut ctx = Context {
        out: &mut out,
        stdin: &mut input,
        json: cli.global.json,
        terminal: false,
    };
    let command = cli.command.expect("command");
    let code = run(&command, &targets, &config, &mut ctx, &mut err).await;
    (code, String::from_utf8(out.written).expect("utf8"))
}

/// A cluster named `name` with the one endpoint `url`.
pub(super) fn target(name: &str, url: &str) -> Target {
    Target {
        name: name.to_string(),
        endpoints: vec![parse_endpoint(url).expect("url")],
    }
}

#[tokio::test]
async fn watch_prints_rounds_until_stdout_closes() {
    let running = task("RUNNING", "");
    let (url, seen) = serve(vec![
        jobs_answer(),
        statuses(
            &["web1", "db1"],
            &[("web1", running.clone()), ("db1", running)],
        ),
    ])
    .await;
    // Header, one separator and one report; the next separator fails.
    let (code, out) = on_targets(
        &["watch", "foo", "web", "--interval", "0"],
        vec![target("one", &url)],
        3,
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        without_separators(&out),
        [
            "Control-C to stop",
            "JOB                  HOST                           STATE    THROTTLED?",
            "foo:1:3f5c6e4        web1                           RUNNING  NO",
        ]
    );
    assert_eq!(out.matches(" UTC]\n").count(), 1);
    let seen = seen.lock().expect("lock");
    assert_eq!(seen[0].line, "GET /jobs?user=tester&q=foo");
    assert_eq!(seen[1].line, "POST /jobs/statuses?user=tester");
}

#[tokio::test]
async fn watch_shows_every_cluster_each_round() {
    let (one, _) = serve(vec![
        jobs_answer(),
        statuses(&["h1"], &[("h1", task("RUNNING", ""))]),
    ])
    .await;
    let (two, _) = serve(vec![ok("{}"), statuses(&["h2"], &[])]).await;
    let (code, out) = on_targets(
        &["watch", "foo", "h1", "h2", "--exact"],
        vec![target("one", &one), target("two", &two)],
        4,
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        without_separators(&out),
        [
            "Control-C to stop",
            "JOB                  HOST                           STATE    THROTTLED?",
            &format!("--- one ([{one}/])"),
            "foo:1:3f5c6e4        h1                             RUNNING  NO",
            "foo:1:3f5c6e4        h2                             UNKNOWN  UNKNOWN",
            &format!("--- two ([{two}/])"),
            "foo:1:3f5c6e4        h1                             UNKNOWN  UNKNOWN",
            "foo:1:3f5c6e4        h2                             UNKNOWN  UNKNOWN",
        ]
    );
}
