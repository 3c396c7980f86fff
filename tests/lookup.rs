//! Master lookup against a real DNS server (Debian's dnsmasq on a loopback port) and a real
//! three-master cluster: the CLI's `-d` with `--dns-server` (SRV `_helios._https`, falling back
//! to `_helios._http`), `--srv-name`, dead masters in an SRV answer, `~/.helios/config`,
//! `HELIOS_MASTER` and their precedence; and an agent that finds its masters with `--domain`,
//! including a record that changes while it runs.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use helios_testkit::agents::Agent;
use helios_testkit::{Cluster, bin, bin_dir, eventually, exclusive, free_port, job_json};
use serde_json::Value;

/// dnsmasq as shipped by Debian's dnsmasq-base.
const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// A dnsmasq serving only the records it was given, authoritative for `.test` (unknown
/// names there are NXDOMAIN), on 127.0.0.1:`port`, UDP and TCP. Killed on drop.
struct Dnsmasq {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq with `records` (dnsmasq options such as `--srv-host=…`) and waits until
    /// it listens.
    fn start(port: u16, records: &[String], log: &Path) -> Dnsmasq {
        let program = if Path::new(DNSMASQ).exists() {
            DNSMASQ
        } else {
            "dnsmasq"
        };
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open dnsmasq log");
        let child = Command::new(program)
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--no-resolv",
                "--no-hosts",
                "--no-negcache",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--local=/test/",
                "--log-facility=-",
                "--log-queries",
            ])
            .arg(format!("--port={port}"))
            .args(records)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn dnsmasq (Debian package dnsmasq-base)");
        let dns = Dnsmasq {
            child: Some(child),
            port,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dnsmasq does not listen on {port}: {}",
                dns.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dns
    }

    /// `127.0.0.1:<port>`, for `--dns-server`.
    fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `--srv-host=NAME,TARGET,PORT,PRIORITY,WEIGHT`.
fn srv(name: &str, target: &str, port: u16, priority: u16) -> String {
    format!("--srv-host={name},{target},{port},{priority},10")
}

/// `--host-record=NAME,127.0.0.1`.
fn host(name: &str) -> String {
    format!("--host-record={name},127.0.0.1")
}

/// The URL of a port where nothing listens.
fn dead_port() -> u16 {
    free_port()
}

/// Runs `helios` with HOME set to `home`, none of the lookup variables of the test
/// process's environment, then `env`, then `args`.
fn helios(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("helios"));
    cmd.env("HOME", home);
    for var in [
        "HELIOS_MASTER",
        "HELIOS_DNS_SERVER",
        "HELIOS_HTTPS_SRV_FORMAT",
        "HELIOS_HTTP_SRV_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .args(["--retry-timeout", "20", "--http-timeout", "5"])
        .args(args)
        .output()
        .expect("run helios")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Asserts success and that `jobs -q -f` output lists `id`.
fn lists(out: &Output, id: &str, what: &str) {
    assert!(
        out.status.success() && stdout(out).lines().any(|l| l == id),
        "{what}: status {:?}, stdout {:?}, stderr {:?}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Asserts exit code 1 and exactly `message` on stderr.
fn fails_with(out: &Output, message: &str, what: &str) {
    assert_eq!(
        (out.status.code(), stderr(out).as_str()),
        (Some(1), format!("{message}\n").as_str()),
        "{what}: stdout {:?}",
        stdout(out)
    );
}

/// Writes `$home/.helios/config`.
fn write_config(home: &Path, text: &str) {
    std::fs::create_dir_all(home.join(".helios")).expect("config dir");
    std::fs::write(home.join(".helios/config"), text).expect("write config");
}

async fn create_job(url: &str) -> String {
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{url}/jobs"))
        .json(&job_json("lookupjob", "1"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("create job");
    let v: Value = r.json().await.expect("json");
    v["id"].as_str().expect("job id").to_string()
}

/// The CLI finds a three-master cluster through SRV records, config files and
/// HELIOS_MASTER, in Helios's precedence, and fails like Helios when nothing resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_finds_masters_through_dns_config_and_env() {
    let _guard = exclusive().await;
    bin_dir();
    let cluster = Cluster::start(3).await;
    let ports: Vec<u16> = cluster.masters.iter().map(|m| m.http_port).collect();
    let url = cluster.masters[0].url();
    let id = create_job(&url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let records = vec![
        // Only http records: the CLI must fall back from _helios._https.
        srv("_helios._http.lookup.test", "m1.lookup.test", ports[0], 0),
        srv("_helios._http.lookup.test", "m2.lookup.test", ports[1], 0),
        srv("_helios._http.lookup.test", "m3.lookup.test", ports[2], 0),
        host("m1.lookup.test"),
        host("m2.lookup.test"),
        host("m3.lookup.test"),
        // Another service name, one master.
        srv("_custom._http.lookup.test", "m2.lookup.test", ports[1], 0),
        // Three dead masters and a live one: whichever the client tries first, it works.
        srv("_helios._http.mixed.test", "m1.lookup.test", dead_port(), 0),
        srv("_helios._http.mixed.test", "m2.lookup.test", dead_port(), 0),
        srv("_helios._http.mixed.test", "m3.lookup.test", dead_port(), 0),
        srv("_helios._http.mixed.test", "m3.lookup.test", ports[2], 0),
        // Only dead masters.
        srv("_helios._http.dead.test", "m1.lookup.test", dead_port(), 0),
    ];
    let dns = Dnsmasq::start(free_port(), &records, &dir.path().join("dnsmasq.log"));
    let server = dns.server();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let with_dns = [("HELIOS_DNS_SERVER", server.as_str())];

    // -d with --dns-server: _helios._https has no records, _helios._http has three masters.
    let out = helios(
        &home,
        &[],
        &[
            "-d",
            "lookup.test",
            "--dns-server",
            &server,
            "jobs",
            "-q",
            "-f",
        ],
    );
    lists(&out, &id, "-d lookup.test");
    assert!(
        dns.log_text().contains("_helios._https.lookup.test"),
        "the https record is asked first: {}",
        dns.log_text()
    );
    // The same through HELIOS_DNS_SERVER.
    let out = helios(&home, &with_dns, &["-d", "lookup.test", "jobs", "-q", "-f"]);
    lists(&out, &id, "-d with HELIOS_DNS_SERVER");

    // Nothing under that name: Helios's message, exit 1.
    let out = helios(&home, &with_dns, &["-d", "nothing.test", "jobs"]);
    fails_with(
        &out,
        "Failed to resolve helios master in nothing.test (srv: helios)",
        "-d nothing.test",
    );
    // Several domains: the one that resolves still runs, the exit code is 1.
    let out = helios(
        &home,
        &with_dns,
        &["-d", "nothing.test,lookup.test", "jobs", "-q", "-f"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l == id), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("nothing.test ([])\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        stderr(&out),
        "Failed to resolve helios master in nothing.test (srv: helios)\n"
    );
    // With --json the clusters are one JSON object; the failed one is null.
    let out = helios(
        &home,
        &with_dns,
        &["-d", "nothing.test,lookup.test", "--json", "jobs"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)));
    assert_eq!(v["nothing.test"], Value::Null, "{v}");
    assert!(v["lookup.test"].get(&id).is_some(), "{v}");

    // --srv-name changes the record.
    let out = helios(
        &home,
        &with_dns,
        &[
            "-d",
            "lookup.test",
            "--srv-name",
            "custom",
            "jobs",
            "-q",
            "-f",
        ],
    );
    lists(&out, &id, "--srv-name custom");
    let out = helios(
        &home,
        &with_dns,
        &["-d", "lookup.test", "--srv-name", "missing", "jobs"],
    );
    fails_with(
        &out,
        "Failed to resolve helios master in lookup.test (srv: missing)",
        "--srv-name missing",
    );

    // Dead masters in the answer are failed over; three runs make it likely that a dead one
    // is tried first at least once.
    for _ in 0..3 {
        let out = helios(&home, &with_dns, &["-d", "mixed.test", "jobs", "-q", "-f"]);
        lists(&out, &id, "-d mixed.test");
    }
    let out = helios(
        &home,
        &with_dns,
        // After the command, it replaces the helper's --retry-timeout.
        &["-d", "dead.test", "jobs", "--retry-timeout", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("Unable to connect to master in dead.test (srv: helios): "),
        "{}",
        stderr(&out)
    );

    // A dead DNS server fails the lookup quickly.
    let dead_dns = format!("127.0.0.1:{}", dead_port());
    let out = helios(
        &home,
        &[],
        &["-d", "lookup.test", "--dns-server", &dead_dns, "jobs"],
    );
    fails_with(
        &out,
        "Failed to resolve helios master in lookup.test (srv: helios)",
        "dead DNS server",
    );

    // ~/.helios/config with masterEndpoints.
    write_config(&home, &format!(r#"{{"masterEndpoints": ["{url}"]}}"#));
    lists(
        &helios(&home, &[], &["jobs", "-q", "-f"]),
        &id,
        "config masterEndpoints",
    );
    // With domains and srvName.
    write_config(
        &home,
        r#"{"domains": ["lookup.test"], "srvName": "custom"}"#,
    );
    lists(
        &helios(&home, &with_dns, &["jobs", "-q", "-f"]),
        &id,
        "config domains",
    );
    write_config(
        &home,
        r#"{"domains": ["nothing.test"], "srvName": "custom"}"#,
    );
    fails_with(
        &helios(&home, &with_dns, &["jobs"]),
        "Failed to resolve helios master in nothing.test (srv: custom)",
        "config domains without records",
    );

    // HELIOS_MASTER replaces the file's masters (the file still names nothing.test).
    let env_http = [
        ("HELIOS_MASTER", url.as_str()),
        ("HELIOS_DNS_SERVER", server.as_str()),
    ];
    lists(
        &helios(&home, &env_http, &["jobs", "-q", "-f"]),
        &id,
        "HELIOS_MASTER=http://…",
    );
    // domain:// keeps the file's srvName (custom).
    let env_domain = [
        ("HELIOS_MASTER", "domain://lookup.test"),
        ("HELIOS_DNS_SERVER", server.as_str()),
    ];
    lists(
        &helios(&home, &env_domain, &["jobs", "-q", "-f"]),
        &id,
        "HELIOS_MASTER=domain://…",
    );
    fails_with(
        &helios(&home, &[("HELIOS_MASTER", "ftp://x")], &["jobs"]),
        "Your environment variable HELIOS_MASTER=ftp://x does not have a valid scheme.",
        "bad scheme",
    );
    fails_with(
        &helios(&home, &[("HELIOS_MASTER", "master1")], &["jobs"]),
        "Your environment variable HELIOS_MASTER=master1 is not a valid URI with a scheme.",
        "no scheme",
    );

    // Flags beat both the file and HELIOS_MASTER, which point at nothing that works.
    let dead_url = format!("http://127.0.0.1:{}", dead_port());
    write_config(&home, &format!(r#"{{"masterEndpoints": ["{dead_url}"]}}"#));
    let env_dead = [
        ("HELIOS_MASTER", "domain://nothing.test"),
        ("HELIOS_DNS_SERVER", server.as_str()),
    ];
    lists(
        &helios(&home, &env_dead, &["-z", &url, "jobs", "-q", "-f"]),
        &id,
        "-z over file and env",
    );
    lists(
        &helios(&home, &env_dead, &["-d", "lookup.test", "jobs", "-q", "-f"]),
        &id,
        "-d over file and env",
    );

    // A malformed file is an error naming it, unless the flags choose the masters.
    write_config(&home, "{ masterEndpoints = [");
    let out = helios(&home, &[], &["jobs"]);
    assert_eq!(out.status.code(), Some(1));
    let config_path = home.join(".helios/config");
    assert!(
        stderr(&out).starts_with(&format!(
            "Invalid configuration file {}: not JSON: ",
            config_path.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let out = helios(&home, &[], &["-z", &url, "jobs", "-q", "-f"]);
    lists(&out, &id, "-z with a malformed file");
    assert!(
        stderr(&out).starts_with("Warning: Invalid configuration file "),
        "{}",
        stderr(&out)
    );
}

/// Whether the master at `url` reports `host` UP.
async fn host_up(url: &str, host: &str) -> bool {
    let client = reqwest::Client::new();
    let Ok(r) = client
        .post(format!("{url}/hosts/statuses"))
        .json(&[host])
        .timeout(Duration::from_secs(5))
        .send()
        .await
    else {
        return false;
    };
    let v: Value = r.json().await.unwrap_or(Value::Null);
    v[host]["status"] == "UP"
}

/// An agent with `--domain` and no `--master` finds the cluster through
/// `_helios-cluster._tcp.<domain>`, and looks the record up again while it runs: it first
/// names only a dead address, then the real masters, and the agent registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_finds_masters_through_dns_and_follows_record_changes() {
    let _guard = exclusive().await;
    bin_dir();
    let cluster = Cluster::start(3).await;
    let url = cluster.masters[0].url();
    let dir = tempfile::tempdir().expect("tempdir");
    let dns_port = free_port();
    let log = dir.path().join("dnsmasq.log");
    let record = "_helios-cluster._tcp.agents.test";
    // First only a dead master.
    let mut dns = Dnsmasq::start(
        dns_port,
        &[
            srv(record, "dead.agents.test", dead_port(), 0),
            host("dead.agents.test"),
        ],
        &log,
    );
    let mut agent = Agent::new("srv-agent", cluster.dir.path(), Vec::new(), "24100:24200");
    agent.extra_args = vec![
        "--domain".into(),
        "agents.test".into(),
        "--dns-server".into(),
        dns.server(),
    ];
    agent.start();
    eventually(
        Duration::from_secs(30),
        "the agent asks for its record",
        || {
            // Each lookup logs the query and its answer: two lookups at least.
            let asked = dns.log_text().matches(record).count() >= 4;
            async move { asked.then_some(()) }
        },
    )
    .await;
    assert!(agent.is_running(), "{}", agent.log_tail());
    assert!(!host_up(&url, "srv-agent").await);

    // Now the record names the three masters' cluster ports, through host names.
    dns.stop();
    let mut records = Vec::new();
    for (i, m) in cluster.masters.iter().enumerate() {
        let name = format!("c{i}.agents.test");
        records.push(srv(record, &name, m.cluster_port, 0));
        records.push(host(&name));
    }
    let _dns = Dnsmasq::start(dns_port, &records, &log);
    eventually(Duration::from_secs(60), "the agent UP", || {
        let url = url.clone();
        async move { host_up(&url, "srv-agent").await.then_some(()) }
    })
    .await;
    assert!(agent.is_running(), "{}", agent.log_tail());
}
