//! The masters' DNS (issue 14), with real master processes, a real agent, real containers
//! and `dig`: SRV records list exactly the RUNNING (so healthy) tasks of registered jobs, at
//! every master, and follow a deploy, a task whose health check fails, and an undeploy (a
//! task with a `gracePeriod` leaves DNS while its container still runs); the masters are
//! listed under `_helios._http.<domain>`, where `helios -d` finds them.

use std::process::Command;
use std::time::Duration;

use helios_testkit::agents::Agent;
use helios_testkit::api::{call, create_job, deploy, wait_hosts_up, wait_task};
use helios_testkit::docker::{ensure_busybox_image, inspect};
use helios_testkit::{Cluster, bin, eventually, exclusive, free_port};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);
const SERVICE: &str = "_svc._http.example.test";

/// `dig +short` of `name` and `kind` at the DNS server on 127.0.0.1:`port`, sorted lines.
fn dig(port: u16, kind: &str, name: &str) -> Vec<String> {
    let out = Command::new("dig")
        .args(["+short", "+time=2", "+tries=2", "@127.0.0.1", "-p"])
        .arg(port.to_string())
        .args([kind, name])
        .output()
        .expect("run dig (Debian's bind9-dnsutils; ./test.sh installs it)");
    assert!(out.status.success(), "{out:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

/// A registered job: `svc/http` on its port `http`, whose exec health check passes once
/// `ready` is true; stopped after a grace period of 6 s.
fn registered(id: &str, image: &str, ready: bool) -> Value {
    let command = if ready {
        "echo ok > /tmp/ready; sleep 100000"
    } else {
        "sleep 100000"
    };
    json!({"id": id, "image": image, "secondsToWaitBeforeKill": 1, "gracePeriod": 6,
           "command": ["sh", "-c", command],
           "ports": {"http": {"internalPort": 8080}},
           "registration": {"svc/http": {"ports": {"http": {}}}},
           "healthCheck": {"type": "exec", "command": ["sh", "-c", "test -s /tmp/ready"]}})
}

/// Waits until every master's DNS answers `want` for SRV `SERVICE`.
async fn wait_srv(ports: &[u16], want: &[String], what: &str) {
    eventually(WAIT, what, || async {
        ports
            .iter()
            .all(|p| dig(*p, "SRV", SERVICE) == want)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn srv_records_follow_running_healthy_tasks_at_every_master() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let mut cluster = Cluster::prepare(3, |_| Vec::new());
    let dns_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    for (m, port) in cluster.masters.iter_mut().zip(&dns_ports) {
        m.extra_args = vec![
            "--dns-addr".into(),
            format!("127.0.0.1:{port}"),
            "--dns-domain".into(),
            "Example.Test.".into(),
        ];
    }
    cluster.start_all().await;
    let mut agent = Agent::new(
        "dns-a",
        cluster.dir.path(),
        cluster.cluster_addrs(),
        "33800:33900",
    );
    agent.start();
    let http = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&http, &url, &["dns-a"]).await;

    // The masters themselves.
    let masters = dig(dns_ports[1], "SRV", "_helios._http.example.test");
    let mut want: Vec<String> = (1..=3)
        .map(|i| {
            let port = cluster.masters[i - 1].http_port;
            format!("0 10 {port} master{i}.example.test.")
        })
        .collect();
    want.sort();
    assert_eq!(masters, want);
    assert_eq!(
        dig(dns_ports[2], "A", "master2.example.test"),
        ["127.0.0.1"]
    );
    assert!(dig(dns_ports[0], "SRV", SERVICE).is_empty());
    // The CLI finds the masters through this DNS (`-d`).
    let out = Command::new(bin("helios"))
        .args(["-d", "example.test", "--dns-server"])
        .arg(format!("127.0.0.1:{}", dns_ports[0]))
        .args(["masters", "-f"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "master1\nmaster2\nmaster3\n"
    );

    // A healthy task is listed at every master, with the host's address.
    let web = create_job(&http, &url, registered("web:1", image, true)).await;
    deploy(&http, &url, &web, "dns-a").await;
    let running = |t: &Value| t["state"] == "RUNNING";
    let task = wait_task(&http, &url, &web, "dns-a", WAIT, "RUNNING", running).await;
    let port = task["ports"]["http"]["externalPort"].as_u64().unwrap();
    let listed = vec![format!("0 10 {port} dns-a.example.test.")];
    wait_srv(&dns_ports, &listed, "web listed").await;
    assert_eq!(dig(dns_ports[1], "A", "dns-a.example.test"), ["127.0.0.1"]);

    // A task whose health check fails is not listed.
    let sick = create_job(&http, &url, registered("sick:1", image, false)).await;
    deploy(&http, &url, &sick, "dns-a").await;
    let checking = |t: &Value| t["state"] == "HEALTHCHECKING";
    wait_task(
        &http,
        &url,
        &sick,
        "dns-a",
        WAIT,
        "HEALTHCHECKING",
        checking,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for p in &dns_ports {
        assert_eq!(dig(*p, "SRV", SERVICE), listed, "a failing task listed");
    }

    // Undeployed: gone everywhere, before its grace period ends and its container stops.
    let container = task["containerId"].as_str().unwrap().to_string();
    let (s, v) = call(http.delete(format!("{url}/hosts/dns-a/jobs/{web}"))).await;
    assert_eq!(s, 200, "{v}");
    wait_srv(&dns_ports, &[], "web gone").await;
    assert_eq!(
        inspect(&container, "{{.State.Running}}").as_deref(),
        Some("true"),
        "the container stopped before it left DNS"
    );
    eventually(
        WAIT,
        "the container stopped after its grace period",
        || async {
            (inspect(&container, "{{.State.Running}}").as_deref() != Some("true")).then_some(())
        },
    )
    .await;
    let (s, v) = call(http.delete(format!("{url}/hosts/dns-a/jobs/{sick}"))).await;
    assert_eq!(s, 200, "{v}");
    // Names outside the domain are refused, not answered.
    let out = Command::new("dig")
        .args(["+time=2", "@127.0.0.1", "-p"])
        .arg(dns_ports[0].to_string())
        .args(["A", "example.org"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("status: REFUSED"),
        "{out:?}"
    );
    agent.kill9();
}
