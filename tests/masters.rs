//! Replication and durability of the masters, with real processes, real sled files and
//! `kill -9`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helios_testkit::api::{create_acknowledged, jobs_on, wait_for_all};
use helios_testkit::{Cluster, eventually, job_json};
use serde_json::Value;

/// 300 jobs from 16 concurrent clients sent to a follower; the leader is killed with SIGKILL
/// midway. Every acknowledged job must be on both survivors, and on the killed master once it
/// is restarted and has caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_survive_leader_kill() {
    let mut cluster = Cluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let follower = (leader + 1) % 3;
    let url = cluster.masters[follower].url();
    let client = reqwest::Client::new();

    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let kill_tx = Arc::new(Mutex::new(Some(kill_tx)));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (next, acked, url, client, kill_tx) = (
            next.clone(),
            acked.clone(),
            url.clone(),
            client.clone(),
            kill_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= 300 {
                    return;
                }
                if let Some(id) = create_acknowledged(&client, &url, &format!("job{n}")).await {
                    let mut a = acked.lock().unwrap();
                    a.insert(id);
                    if a.len() == 100
                        && let Some(tx) = kill_tx.lock().unwrap().take()
                    {
                        let _ = tx.send(());
                    }
                }
            }
        }));
    }
    kill_rx.await.expect("100 creates acknowledged");
    cluster.masters[leader].kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 290,
        "only {} of 300 creates acknowledged",
        acked.len()
    );

    for (i, m) in cluster
        .masters
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
    {
        wait_for_all(&client, &m.url(), &acked, &format!("survivor {}", i + 1)).await;
    }
    cluster.masters[leader].start();
    let url = cluster.masters[leader].url();
    wait_for_all(&client, &url, &acked, "restarted master").await;
    // Linearizable reads through any member see every acknowledged job too.
    let all = jobs_on(&client, &url).await.unwrap();
    assert!(acked.is_subset(&all));
}

/// Stops all three masters (SIGTERM), restarts them with their data, and then kills all
/// three with SIGKILL and restarts again: every job is still there each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_masters_restart_with_their_data() {
    let mut cluster = Cluster::start(3).await;
    let client = reqwest::Client::new();
    let url = cluster.masters[0].url();
    let mut want = BTreeSet::new();
    for n in 0..20 {
        want.insert(
            create_acknowledged(&client, &url, &format!("keep{n}"))
                .await
                .unwrap(),
        );
    }
    for m in &mut cluster.masters {
        m.stop();
    }
    for m in &mut cluster.masters {
        m.start();
    }
    cluster.wait_leader(Duration::from_secs(60)).await;
    for m in &cluster.masters {
        wait_for_all(&client, &m.url(), &want, "restart after SIGTERM").await;
    }
    // More writes, then a hard stop of every member.
    for n in 20..30 {
        want.insert(
            create_acknowledged(&client, &url, &format!("keep{n}"))
                .await
                .unwrap(),
        );
    }
    for m in &mut cluster.masters {
        m.kill9();
    }
    for m in &mut cluster.masters {
        m.start();
    }
    cluster.wait_leader(Duration::from_secs(60)).await;
    for m in &cluster.masters {
        wait_for_all(&client, &m.url(), &want, "restart after SIGKILL").await;
    }
    // The linearizable list equals what was written.
    let r: Value = client
        .get(format!("{url}/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: BTreeSet<String> = r.as_object().unwrap().keys().cloned().collect();
    assert_eq!(listed, want);
}

/// A name:version is unique, a removal needs the job's token, and reads on any member see a
/// write acknowledged by another.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_lifecycle_through_every_member() {
    let cluster = Cluster::start(3).await;
    let client = reqwest::Client::new();
    let urls = cluster.urls();
    let mut body = job_json("life", "1");
    body["token"] = "s3cret".into();
    let r = client
        .post(format!("{}/jobs?user=alice", urls[0]))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for u in &urls {
        let j: Value = client
            .get(format!("{u}/jobs/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(j["creatingUser"], "alice");
        assert!(j["created"].as_i64().unwrap() > 0);
        assert_eq!(j["id"], id.as_str());
    }
    // Same name and version, different content: refused.
    let mut other = job_json("life", "1");
    other["command"] = serde_json::json!(["true"]);
    let r = client
        .post(format!("{}/jobs", urls[1]))
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["status"],
        "JOB_ALREADY_EXISTS"
    );
    // Wrong token: forbidden; right token: removed; again: not found.
    let r = client
        .delete(format!("{}/jobs/{id}?token=nope", urls[2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "FORBIDDEN");
    let r = client
        .delete(format!("{}/jobs/{id}?token=s3cret", urls[2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "OK");
    let r = client
        .delete(format!("{}/jobs/{id}?token=s3cret", urls[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .get(format!("{}/jobs/{id}", urls[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Masters lists all three names.
    let m: Value = client
        .get(format!("{}/masters", urls[1]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m, serde_json::json!(["master1", "master2", "master3"]));
    // Metrics name the Raft figures.
    let text = client
        .get(format!("{}/metrics", urls[0]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "raft_term",
        "raft_commit_index",
        "raft_applied_index",
        "raft_leader_id",
        "write_latency_seconds",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
}

/// Parses strace `-ttt -y` lines: the times of fsync/fdatasync calls on files under `dir`.
fn syncs_under(trace: &std::path::Path, dir: &std::path::Path) -> Vec<f64> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let dir = dir.to_string_lossy().to_string();
    text.lines()
        .filter(|l| {
            (l.contains("fdatasync(") || l.contains("fsync("))
                && l.contains(&dir)
                && l.ends_with("= 0")
        })
        .filter_map(|l| {
            // "<pid> <epoch.micros> fdatasync(12</…/db>) = 0"
            l.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .collect()
}

/// Under strace, a job create shows an fdatasync of the store's files on the leader and on a
/// quorum of followers before the HTTP answer (and on every member soon after).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_is_fsynced_on_members_before_the_answer() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        panic!("strace is required for this test (Debian package strace; ./test.sh installs it)");
    }
    let traces = tempfile::tempdir().unwrap();
    let trace_of = |id: u64| traces.path().join(format!("m{id}.strace"));
    let cluster = Cluster::start_wrapped(3, |id| {
        vec![
            "strace".into(),
            "-f".into(),
            "-ttt".into(),
            "-y".into(),
            "-e".into(),
            "trace=fsync,fdatasync".into(),
            "-o".into(),
            trace_of(id).to_string_lossy().into(),
        ]
    })
    .await;
    let leader = cluster.wait_leader(Duration::from_secs(60)).await;
    let client = reqwest::Client::new();
    // Let start-up syncs settle, then time one create.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let sent = now();
    let r = client
        .post(format!("{}/jobs", cluster.masters[leader].url()))
        .json(&job_json("synced", "1"))
        .send()
        .await
        .unwrap();
    let answered = now();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut before = Vec::new();
    for m in &cluster.masters {
        let syncs = syncs_under(&trace_of(m.id), &m.data_dir);
        let in_window = syncs.iter().any(|t| *t >= sent && *t <= answered);
        let after = syncs.iter().any(|t| *t >= sent);
        assert!(
            after,
            "member {} never synced its store after the create",
            m.id
        );
        before.push(in_window);
    }
    eprintln!("members that synced before the answer: {before:?}");
    assert!(
        before[leader],
        "the leader did not sync before answering: {before:?}"
    );
    let followers_before = before
        .iter()
        .enumerate()
        .filter(|(i, b)| *i != leader && **b)
        .count();
    assert!(
        followers_before >= 1,
        "no follower synced before the answer: {before:?}"
    );
}

/// With frequent snapshots and no log kept behind them, a member that joins after the
/// leader compacted its log catches up by installing a snapshot streamed in chunks, and then
/// restarts from its own snapshot and log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_member_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::prepare(2, |_| Vec::new());
    let first_cluster_addr = format!("127.0.0.1:{}", cluster.masters[0].cluster_port);
    cluster.masters[0].peers = format!("1={first_cluster_addr}");
    cluster.masters[1].peers = String::new();
    for m in &mut cluster.masters {
        m.extra_args = ["--snapshot-every", "50", "--log-keep", "0"]
            .map(String::from)
            .to_vec();
    }
    cluster.masters[1]
        .extra_args
        .extend(["--join".to_string(), first_cluster_addr]);
    cluster.masters[0].start();
    cluster.wait_leader(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let url = cluster.masters[0].url();
    let mut want = BTreeSet::new();
    for n in 0..300 {
        want.insert(
            create_acknowledged(&client, &url, &format!("snap{n}"))
                .await
                .unwrap(),
        );
    }
    cluster.masters[1].start();
    let late = cluster.masters[1].url();
    wait_for_all(&client, &late, &want, "snapshot install").await;
    let log = cluster.masters[1].log_tail();
    assert!(log.contains("installing snapshot from the leader"), "{log}");
    cluster.masters[1].kill9();
    cluster.masters[1].start();
    wait_for_all(&client, &late, &want, "restart from snapshot").await;
}

/// A master started with `--join` becomes a voting member of a running cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn join_adds_a_member_at_runtime() {
    let mut cluster = Cluster::prepare(2, |_| Vec::new());
    let first_cluster_addr = format!("127.0.0.1:{}", cluster.masters[0].cluster_port);
    cluster.masters[0].peers = format!("1={first_cluster_addr}");
    cluster.masters[1].peers = String::new();
    cluster.masters[1].extra_args = vec!["--join".into(), first_cluster_addr];
    cluster.masters[0].start();
    cluster.wait_leader(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let url0 = cluster.masters[0].url();
    let id = create_acknowledged(&client, &url0, "before-join")
        .await
        .unwrap();
    cluster.masters[1].start();
    let url1 = cluster.masters[1].url();
    eventually(Duration::from_secs(60), "two masters listed", || async {
        let v: Value = client
            .get(format!("{url0}/masters"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v.as_array()?.len() == 2).then_some(())
    })
    .await;
    wait_for_all(&client, &url1, &BTreeSet::from([id]), "joined member").await;
    // Restarting the joined member with the same flags is safe.
    cluster.masters[1].stop();
    cluster.masters[1].start();
    let id2 = create_acknowledged(&client, &url1, "after-join")
        .await
        .unwrap();
    wait_for_all(
        &client,
        &url0,
        &BTreeSet::from([id2]),
        "write through joined member",
    )
    .await;
}

/// The Raft term `url`'s member reports in its metrics.
async fn raft_term(client: &reqwest::Client, url: &str) -> Option<u64> {
    raft_gauge(client, url, "helios_master_raft_term").await
}

/// One of the Raft gauges `url`'s member reports in its metrics.
async fn raft_gauge(client: &reqwest::Client, url: &str, name: &str) -> Option<u64> {
    let text = client
        .get(format!("{url}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// A leader killed and restarted stands for election in a new term; it never resumes its old
/// term. Resuming, it would number new entries from the end of its own log, which lost what
/// it had not synced yet, while a follower may hold those entries: two different entries under
/// one log id, and a member whose state lacks a committed write. The followers are paused
/// while the leader restarts, so that nobody else can make it a follower first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_leader_does_not_resume_its_term() {
    use helios_testkit::Fault;
    let mut cluster = Cluster::start(3).await;
    let client = reqwest::Client::new();
    let urls = cluster.urls();
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    assert!(
        create_acknowledged(&client, &urls[leader], "before")
            .await
            .is_some()
    );
    let term = raft_term(&client, &urls[leader])
        .await
        .expect("leader's term");
    let followers = [(leader + 1) % 3, (leader + 2) % 3];
    for f in followers {
        cluster.inject(f, Fault::Pause);
    }
    cluster.inject(leader, Fault::Kill);
    cluster.inject(leader, Fault::Restart);
    eventually(
        Duration::from_secs(30),
        "the restarted leader serves its metrics",
        || {
            let (client, url) = (client.clone(), urls[leader].clone());
            async move { raft_term(&client, &url).await }
        },
    )
    .await;
    // Several election timeouts (600-1200 ms in tests) while it is alone.
    for _ in 0..15 {
        let leads = raft_gauge(&client, &urls[leader], "helios_master_raft_is_leader").await;
        assert_ne!(
            leads,
            Some(1),
            "the restarted master leads again, in term {:?}, without an election",
            raft_term(&client, &urls[leader]).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for f in followers {
        cluster.inject(f, Fault::Resume);
    }
    let new_leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let new_term = raft_term(&client, &urls[new_leader]).await.expect("term");
    assert!(
        new_term > term,
        "term {new_term} after the restart, {term} before"
    );
    assert!(
        create_acknowledged(&client, &urls[new_leader], "after")
            .await
            .is_some()
    );
}

/// Pre-Vote: a follower cut off from the others for many election timeouts asks whether it
/// would win before it bumps its term, so it never does; when the network heals it rejoins
/// as a follower, and the leader keeps leading in the same term. (Without Pre-Vote it comes
/// back with a higher term and deposes a healthy leader.) Needs network namespaces (root).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_isolated_follower_does_not_depose_the_leader_when_it_returns() {
    use helios_testkit::Fault;
    use helios_testkit::netns::Hosts;
    let hosts = match Hosts::create(3) {
        Ok(hosts) => hosts,
        Err(why) => {
            eprintln!("skipped: no network namespaces here ({why})");
            return;
        }
    };
    let mut cluster = Cluster::on_hosts(&hosts, 3).await;
    let client = reqwest::Client::new();
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let urls = cluster.urls();
    let term = raft_term(&client, &urls[leader])
        .await
        .expect("leader's term");
    let follower = (leader + 1) % 3;
    cluster.inject(follower, Fault::Isolate);
    // The test timings elect after 3-4 × 600 ms without the leader: 8 s is several rounds.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let isolated_term = raft_term(&client, &urls[follower]).await;
    cluster.inject(follower, Fault::Heal);
    assert!(
        create_acknowledged(&client, &urls[leader], "after-heal")
            .await
            .is_some(),
        "the cluster takes writes after the heal"
    );
    // Long enough for a returning higher term to have deposed the leader.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        cluster.wait_leader(Duration::from_secs(30)).await,
        leader,
        "the leader changed"
    );
    for (i, url) in urls.iter().enumerate() {
        assert_eq!(
            raft_term(&client, url).await,
            Some(term),
            "member {i}'s term moved (the isolated one reported {isolated_term:?} while cut off)"
        );
    }
}
