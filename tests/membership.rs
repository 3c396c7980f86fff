//! Membership changes at runtime (issue 14), with real master processes, real sled files and
//! `kill -9`, while clients keep writing: `helios masters add` of a master started with
//! `--await-add`, `helios masters remove` of a dead member and of the leader itself, a
//! removal that would lose the quorum refused, and a removed master that comes back with
//! its data stopping with the reason instead of rejoining.

use std::collections::BTreeSet;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helios_testkit::api::{create_acknowledged, wait_for_all};
use helios_testkit::{Cluster, bin, eventually};
use serde_json::Value;

/// The exit status of a master that stopped because it was removed.
const REMOVED_EXIT_STATUS: i32 = 78;

/// Runs the CLI against every URL in `urls`.
async fn helios(urls: &[String], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(bin("helios"));
    for url in urls {
        cmd.args(["-z", url]);
    }
    cmd.args(["--retry-timeout", "60", "--http-timeout", "90"]);
    cmd.args(args).output().await.expect("run helios")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The members as `helios masters --all --json` lists them.
async fn members(urls: &[String]) -> Vec<Value> {
    let out = helios(urls, &["masters", "--all", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    serde_json::from_str::<Vec<Value>>(&stdout(&out)).expect("members JSON")
}

/// The member named `name`, if listed.
fn member<'a>(members: &'a [Value], name: &str) -> Option<&'a Value> {
    members.iter().find(|m| m["name"] == name)
}

/// Clients that create jobs through the live members until told to stop, keeping the ids
/// of the creates that were acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    fn start(urls: Arc<Mutex<Vec<String>>>, clients: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let next = Arc::new(AtomicUsize::new(0));
        let tasks = (0..clients)
            .map(|_| {
                let (stop, acked, next, urls) =
                    (stop.clone(), acked.clone(), next.clone(), urls.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let url = {
                            let urls = urls.lock().unwrap();
                            urls[n % urls.len()].clone()
                        };
                        if let Some(id) = create_acknowledged(&client, &url, &format!("w{n}")).await
                        {
                            acked.lock().unwrap().insert(id);
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        Writers { stop, acked, tasks }
    }

    /// Stops the clients; the ids of every acknowledged create.
    async fn finish(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("writer");
        }
        self.acked.lock().unwrap().clone()
    }
}

/// Master 4 is added to a running 3-master cluster under write load; a dead member is
/// removed; a removal that would leave too few members up is refused; the leader removes
/// itself and stops; the master removed while dead comes back with its data and stops with
/// the reason; no acknowledged write is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_are_added_and_removed_at_runtime_without_losing_writes() {
    let mut cluster = Cluster::prepare(4, |_| Vec::new());
    let first_three = cluster.masters[..3]
        .iter()
        .map(|m| format!("{}={}", m.id, m.cluster_addr()))
        .collect::<Vec<_>>()
        .join(",");
    for m in &mut cluster.masters[..3] {
        m.peers = first_three.clone();
    }
    cluster.masters[3].peers = String::new();
    cluster.masters[3].extra_args = vec!["--await-add".into()];
    for m in &mut cluster.masters[..3] {
        m.start();
    }
    cluster.wait_leader(Duration::from_secs(60)).await;
    let urls = cluster.urls();
    let url = |i: usize| urls[i].clone();
    let live = Arc::new(Mutex::new(vec![url(0), url(1), url(2)]));
    let writers = Writers::start(live.clone(), 4);

    // A fourth master, started empty, is added while the clients write.
    cluster.masters[3].start();
    let m4 = &cluster.masters[3];
    let (m4_cluster, m4_http) = (m4.cluster_addr(), format!("127.0.0.1:{}", m4.http_port));
    let urls3 = vec![url(0), url(1), url(2)];
    let add_m4 = [
        "masters",
        "add",
        "master4",
        "--cluster",
        &m4_cluster,
        "--http",
        &m4_http,
    ];
    let out = helios(&urls3, &add_m4).await;
    assert_eq!(
        stdout(&out),
        "master4: ADDED; voters: master1, master2, master3, master4\n",
        "{out:?}"
    );
    live.lock().unwrap().push(url(3));
    let all = vec![url(0), url(1), url(2), url(3)];
    let listed = members(&all).await;
    let m4_listed = member(&listed, "master4").expect("master4 listed");
    assert_eq!(m4_listed["role"], "follower", "{listed:?}");
    assert!(m4_listed["matchIndex"].as_u64().is_some(), "{listed:?}");
    assert!(m4_listed["term"].as_u64().unwrap() > 0, "{listed:?}");
    // Adding it again is answered, not repeated; a second name at the same address is not.
    let again = helios(&all, &add_m4).await;
    assert!(
        stdout(&again).starts_with("master4: ALREADY_A_MEMBER"),
        "{again:?}"
    );
    let wrong = helios(
        &all,
        &[
            "masters",
            "add",
            "other",
            "--cluster",
            &m4_cluster,
            "--http",
            &m4_http,
        ],
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    assert!(stdout(&wrong).contains("MASTER_NAME_MISMATCH"), "{wrong:?}");

    // Master 2 dies and is removed.
    cluster.masters[1].kill9();
    live.lock().unwrap().retain(|u| *u != url(1));
    let survivors = vec![url(0), url(2), url(3)];
    let out = helios(&survivors, &["masters", "remove", "master2", "--yes"]).await;
    assert_eq!(
        stdout(&out),
        "master2: REMOVED; voters: master1, master3, master4\n",
        "{out:?}"
    );

    // With master 3 down too, removing a live member would leave one of two voters up.
    cluster.masters[2].kill9();
    live.lock().unwrap().retain(|u| *u != url(2));
    let up = vec![url(0), url(3)];
    eventually(Duration::from_secs(30), "master3 seen down", || async {
        let listed = members(&up).await;
        (member(&listed, "master3")?["state"] == "down").then_some(())
    })
    .await;
    let out = helios(&up, &["masters", "remove", "master4", "--yes"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("QUORUM_AT_RISK (409)"), "{out:?}");
    assert!(
        stdout(&out).contains("master3"),
        "names the member down: {out:?}"
    );
    cluster.masters[2].start();
    live.lock().unwrap().push(url(2));
    eventually(Duration::from_secs(30), "master3 up again", || async {
        let listed = members(&up).await;
        (member(&listed, "master3")?["state"] == "up").then_some(())
    })
    .await;

    // The leader removes itself: it hands over and stops; the other two go on.
    let voters = [0usize, 2, 3];
    let leader = eventually(Duration::from_secs(30), "a leader", || async {
        let listed = members(&up).await;
        let name = listed.iter().find(|m| m["role"] == "leader")?["name"].clone();
        voters
            .iter()
            .copied()
            .find(|i| name == format!("master{}", i + 1))
    })
    .await;
    let leader_name = format!("master{}", leader + 1);
    let rest: Vec<String> = voters
        .iter()
        .filter(|i| **i != leader)
        .map(|i| url(*i))
        .collect();
    live.lock().unwrap().retain(|u| *u != url(leader));
    let out = helios(
        &[url(leader)],
        &["masters", "remove", &leader_name, "--yes"],
    )
    .await;
    assert!(
        stdout(&out).starts_with(&format!("{leader_name}: REMOVED; voters: ")),
        "{out:?}"
    );
    eventually(
        Duration::from_secs(30),
        "the removed leader stops",
        || async { cluster.masters[leader].has_exited().then_some(()) },
    )
    .await;
    let log = cluster.masters[leader].log_tail();
    assert!(
        log.contains(&format!("{leader_name} (id {}) was removed", leader + 1)),
        "{log}"
    );
    let listed = members(&rest).await;
    let names: BTreeSet<&str> = listed.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names.len(), 2, "{listed:?}");
    assert!(!names.contains(leader_name.as_str()), "{listed:?}");

    // Master 2, removed while it was dead, comes back with its data: it is refused and stops
    // with the reason and the status that tells a supervisor not to restart it.
    cluster.masters[1].start();
    eventually(
        Duration::from_secs(30),
        "the removed master 2 stops",
        || async { cluster.masters[1].has_exited().then_some(()) },
    )
    .await;
    let log = cluster.masters[1].log_tail();
    assert!(log.contains("master2 (id 2) was removed"), "{log}");
    for i in [1, leader] {
        let status = cluster.masters[i].wait_exit_status();
        assert_eq!(status, Some(REMOVED_EXIT_STATUS), "master{}", i + 1);
    }

    // Wiped and started again under its removed id with --join: its Join is refused, and it
    // stops saying why.
    let survivor = voters.iter().copied().find(|i| *i != leader).unwrap();
    let through = cluster.masters[survivor].cluster_addr();
    std::fs::remove_dir_all(&cluster.masters[1].data_dir).unwrap();
    cluster.masters[1].peers = String::new();
    cluster.masters[1].extra_args = vec!["--join".into(), through];
    cluster.masters[1].start();
    eventually(
        Duration::from_secs(30),
        "the wiped master 2 stops",
        || async { cluster.masters[1].has_exited().then_some(()) },
    )
    .await;
    assert_eq!(
        cluster.masters[1].wait_exit_status(),
        Some(REMOVED_EXIT_STATUS)
    );
    let log = cluster.masters[1].log_tail();
    assert!(log.contains("join refused"), "{log}");

    // Every acknowledged write is on both remaining members.
    let acked = writers.finish().await;
    assert!(acked.len() > 20, "only {} writes acknowledged", acked.len());
    for u in &rest {
        wait_for_all(&reqwest::Client::new(), u, &acked, "acknowledged writes").await;
    }
}
