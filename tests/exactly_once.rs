//! Exactly-once writes under faults: three masters, 16 clients creating and deleting jobs
//! through followers with idempotency keys, while the leader is killed (SIGKILL) and paused
//! (SIGSTOP) again and again.
//!
//! What must hold afterwards:
//! * no write answered 503 took effect (503 promises nothing was written; a client that gets
//!   one gives up on that key and checks the job at the end);
//! * every acknowledged create is on every member, and every acknowledged delete is gone;
//! * every member ends with the same jobs, whatever the clients learnt;
//! * every key retried (after a lost answer, a timeout or a 504 `UNKNOWN_OUTCOME`, and once
//!   more on purpose after its answer) got its first answer, never `JOB_ALREADY_EXISTS` for its
//!   own earlier attempt.
//!
//! Last, two of the three masters die for 13 s: writes through the survivor are answered 503
//! (or 504 for one the survivor may have proposed) and the 503 ones never appear.
//!
//! Short by default (three faults); `HELIOS_LONG_FAULTS=1` runs twelve, and, as root, the
//! same with each master in a network namespace of its own, the leader also cut off from the
//! network and made to lose packets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helios_testkit::netns::Hosts;
use helios_testkit::{Cluster, Fault, job_json};
use serde_json::Value;
use tokio::time::Instant;

/// How long a client keeps retrying one key after lost answers and 504s.
const KEY_BUDGET: Duration = Duration::from_secs(40);

/// One answer a master gave: status and body.
type Answer = (u16, Value);

/// What a client did with one key.
#[derive(Debug, Clone)]
struct KeyLog {
    op: Op,
    /// Every answer in order, with 0 for an attempt that got no answer.
    answers: Vec<Answer>,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Create(String),
    Delete(String),
}

impl KeyLog {
    /// The first answer that is not 503, 504 or "no answer": the write's outcome.
    fn outcome(&self) -> Option<&Answer> {
        self.answers
            .iter()
            .find(|(status, _)| !matches!(status, 0 | 503 | 504))
    }

    /// Whether every attempt was answered 503: then nothing was written. (A 503 after an
    /// attempt that got no answer or a 504 says only that the retry was not proposed; the
    /// first attempt may have been.)
    fn refused_unavailable(&self) -> bool {
        !self.answers.is_empty() && self.answers.iter().all(|(s, _)| *s == 503)
    }
}

/// The masters' view of the faults: which member leads, so clients talk to the others, and
/// which are killed or paused.
struct Faults {
    leader: Mutex<usize>,
    stopped: Mutex<BTreeSet<usize>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_followers_apply_exactly_once_while_leaders_die() {
    let long = std::env::var_os("HELIOS_LONG_FAULTS").is_some();
    let rounds = if long { 12 } else { 3 };
    scenario(Cluster::start(3).await, rounds).await;
}

/// The same with each master on a host of its own (network namespaces): the leader is also
/// cut off from the network (it runs on, and takes forwarded writes it cannot commit) and made
/// to lose a third of its packets. Needs root; long mode only (`HELIOS_LONG_FAULTS=1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_apply_exactly_once_across_partitions_and_packet_loss() {
    if std::env::var_os("HELIOS_LONG_FAULTS").is_none() {
        eprintln!("skipped: set HELIOS_LONG_FAULTS=1 to run partitions and packet loss");
        return;
    }
    let hosts = match Hosts::create(3) {
        Ok(hosts) => hosts,
        Err(why) => {
            eprintln!("skipped: no network namespaces here ({why})");
            return;
        }
    };
    let cluster = Cluster::on_hosts(&hosts, 3).await;
    scenario(cluster, 8).await;
}

/// 16 clients write through followers while `rounds` faults hit the leader in turn: kill,
/// pause, and on hosts of their own, cut-off and packet loss; then two of three masters die.
/// Checks what the module's documentation promises.
async fn scenario(mut cluster: Cluster, rounds: usize) {
    let urls = cluster.urls();
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let faults = Arc::new(Faults {
        leader: Mutex::new(leader),
        stopped: Mutex::new(BTreeSet::new()),
    });
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let logs: Arc<Mutex<BTreeMap<String, KeyLog>>> = Arc::default();
    // Longer than the masters' retry budget, so that their 503 or 504 reaches the client.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();

    let mut clients = Vec::new();
    for c in 0..16 {
        let (urls, faults, done, logs, http) = (
            urls.clone(),
            faults.clone(),
            done.clone(),
            logs.clone(),
            http.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut mine: Vec<String> = Vec::new();
            let mut n = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let key = format!("c{c}-{n}");
                // Every third write deletes one of this client's acknowledged jobs.
                let op = match mine.pop() {
                    Some(id) if n.is_multiple_of(3) => Op::Delete(id),
                    Some(id) => {
                        mine.push(id);
                        Op::Create(format!("x{c}n{n}"))
                    }
                    None => Op::Create(format!("x{c}n{n}")),
                };
                let log = write_once(&http, &urls, &faults, &key, &op).await;
                if let (Op::Create(_), Some((200, body))) = (&op, log.outcome()) {
                    mine.push(body["id"].as_str().unwrap_or_default().to_string());
                }
                let retry_on_purpose = log.outcome().is_some() && n.is_multiple_of(5);
                logs.lock().unwrap().insert(key.clone(), log);
                if retry_on_purpose {
                    // The same key again, long after its answer: the same answer.
                    let again = write_once(&http, &urls, &faults, &key, &op).await;
                    logs.lock()
                        .unwrap()
                        .get_mut(&key)
                        .unwrap()
                        .answers
                        .extend(again.answers);
                }
            }
        }));
    }

    for round in 0..rounds {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let leader = cluster.wait_leader(Duration::from_secs(30)).await;
        *faults.leader.lock().unwrap() = leader;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let network = cluster.supports(Fault::Isolate);
        if network && round % 4 == 2 {
            // Cut off: it runs on, may believe it leads for a while, and commits nothing.
            faults.stopped.lock().unwrap().insert(leader);
            cluster.inject(leader, Fault::Isolate);
            wait_new_leader(&cluster, &faults, leader).await;
            tokio::time::sleep(Duration::from_millis(2000)).await;
            cluster.inject(leader, Fault::Heal);
            faults.stopped.lock().unwrap().remove(&leader);
        } else if network && round % 4 == 3 {
            // A third of its packets lost, both ways, for five seconds.
            cluster.inject(leader, Fault::Lossy(33));
            tokio::time::sleep(Duration::from_millis(5000)).await;
            cluster.inject(leader, Fault::Heal);
        } else if round % 2 == 0 {
            faults.stopped.lock().unwrap().insert(leader);
            cluster.inject(leader, Fault::Kill);
            wait_new_leader(&cluster, &faults, leader).await;
            tokio::time::sleep(Duration::from_millis(1000)).await;
            cluster.inject(leader, Fault::Restart);
            faults.stopped.lock().unwrap().remove(&leader);
        } else {
            faults.stopped.lock().unwrap().insert(leader);
            cluster.inject(leader, Fault::Pause);
            wait_new_leader(&cluster, &faults, leader).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            cluster.inject(leader, Fault::Resume);
            faults.stopped.lock().unwrap().remove(&leader);
        }
    }
    // No quorum: the leader and one follower die. Writes through the survivor cannot be
    // proposed; after the masters' retry budget (10 s) they are answered 503, and must never
    // appear, even once the others are back.
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let other = (leader + 1) % 3;
    *faults.leader.lock().unwrap() = leader;
    faults.stopped.lock().unwrap().extend([leader, other]);
    cluster.inject(leader, Fault::Kill);
    cluster.inject(other, Fault::Kill);
    tokio::time::sleep(Duration::from_secs(13)).await;
    cluster.inject(leader, Fault::Restart);
    cluster.inject(other, Fault::Restart);
    faults.stopped.lock().unwrap().clear();
    cluster.wait_leader(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    cluster.wait_leader(Duration::from_secs(30)).await;

    let logs = logs.lock().unwrap().clone();
    let acked_creates = logs
        .values()
        .filter(|l| matches!(l.op, Op::Create(_)) && l.outcome().is_some_and(|(s, _)| *s == 200))
        .count();
    assert!(
        acked_creates >= 50,
        "only {acked_creates} creates acknowledged: the cluster hardly served"
    );

    // What every member must hold: names created and not deleted, and names that must not
    // exist (their create was answered 503, or their delete acknowledged).
    let mut must_exist: BTreeMap<String, String> = BTreeMap::new();
    let mut must_not_exist: BTreeSet<String> = BTreeSet::new();
    let mut retried = 0;
    for (key, log) in &logs {
        let outcomes: Vec<&Answer> = log
            .answers
            .iter()
            .filter(|(s, _)| !matches!(s, 0 | 503 | 504))
            .collect();
        if let Some(first) = outcomes.first() {
            for later in &outcomes[1..] {
                assert_eq!(later, first, "key {key} ({:?}) got another answer", log.op);
            }
            retried += usize::from(log.answers.len() > 1);
        }
        match (&log.op, log.outcome()) {
            (Op::Create(name), Some((200, body))) => {
                must_exist.insert(name.clone(), body["id"].as_str().unwrap().to_string());
            }
            (Op::Create(name), Some(other)) => panic!("create {name} (key {key}) got {other:?}"),
            (Op::Create(name), None) if log.refused_unavailable() => {
                must_not_exist.insert(name.clone());
            }
            _ => {}
        }
    }
    for log in logs.values() {
        match (&log.op, log.outcome()) {
            (Op::Delete(id), Some((200, _))) => {
                let name = id.split(':').next().unwrap().to_string();
                must_exist.remove(&name);
                must_not_exist.insert(name);
            }
            (Op::Delete(id), Some(other)) => panic!("delete {id} got {other:?}"),
            (Op::Delete(id), None) if log.refused_unavailable() => {
                // Answered 503: not deleted, so it must still be there.
                let name = id.split(':').next().unwrap().to_string();
                must_exist.insert(name, id.clone());
            }
            (Op::Delete(id), None) => {
                // No answer or 504 to the end: it may or may not be gone.
                must_exist.remove(id.split(':').next().unwrap());
            }
            _ => {}
        }
    }
    assert!(
        retried > 0,
        "no key was retried: the test exercised nothing"
    );
    let count = |status: u16| {
        logs.values()
            .flat_map(|l| &l.answers)
            .filter(|(s, _)| *s == status)
            .count()
    };
    eprintln!(
        "{} keys, {} retried; answers: {} lost, {} 503, {} 504; {} jobs must exist, {} must not",
        logs.len(),
        retried,
        count(0),
        count(503),
        count(504),
        must_exist.len(),
        must_not_exist.len()
    );

    for m in &cluster.masters {
        let url = m.url();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let names = stale_names(&http, &url).await;
            let missing: Vec<_> = must_exist
                .iter()
                .filter(|(name, id)| names.get(*name) != Some(*id))
                .collect();
            let unwanted: Vec<_> = must_not_exist
                .iter()
                .filter(|name| names.contains_key(*name))
                .collect();
            if missing.is_empty() && unwanted.is_empty() {
                break;
            }
            if Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            // What each member holds of the names in question, and what the clients did with
            // them, so that a failure tells a lost write from a lying answer.
            let named: BTreeSet<&str> = missing
                .iter()
                .map(|(name, _)| name.as_str())
                .chain(unwanted.iter().map(|name| name.as_str()))
                .collect();
            let mut held = String::new();
            for other in &cluster.masters {
                let names = stale_names(&http, &other.url()).await;
                let have: Vec<_> = named.iter().map(|n| (n, names.get(*n))).collect();
                held.push_str(&format!("  {}: {have:?}\n", other.url()));
            }
            let history: Vec<_> = logs
                .iter()
                .filter(|(_, log)| match &log.op {
                    Op::Create(name) => named.contains(name.as_str()),
                    Op::Delete(id) => named.contains(id.split(':').next().unwrap_or_default()),
                })
                .collect();
            panic!(
                "member {url}: missing {missing:?}, present but must not be {unwanted:?}\n\
                 held by each member:\n{held}writes on those names: {history:#?}\n{}",
                m.log_tail()
            );
        }
    }

    // Writes whose outcome no client learnt (504 to the end) must still be the same on every
    // member: the members' states are one state.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut states = Vec::new();
        for m in &cluster.masters {
            states.push(stale_names(&http, &m.url()).await);
        }
        let first = &states[0];
        let mut differ = Vec::new();
        for (i, other) in states.iter().enumerate().skip(1) {
            let names: Vec<&String> = first
                .keys()
                .chain(other.keys())
                .filter(|k| other.get(*k) != first.get(*k))
                .collect();
            if !names.is_empty() {
                differ.push((i, names));
            }
        }
        if differ.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "members hold different jobs (names that differ from member 0's): {differ:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends one write with its key until it has an outcome: retried with the same key after a
/// lost answer or a 504, to a master that does not lead; given up after a 503 (the client
/// then knows nothing was written) or after [`KEY_BUDGET`].
async fn write_once(
    http: &reqwest::Client,
    urls: &[String],
    faults: &Faults,
    key: &str,
    op: &Op,
) -> KeyLog {
    let mut log = KeyLog {
        op: op.clone(),
        answers: Vec::new(),
    };
    let deadline = Instant::now() + KEY_BUDGET;
    let mut attempt = 0usize;
    while Instant::now() < deadline {
        attempt += 1;
        let url = {
            let leader = *faults.leader.lock().unwrap();
            let stopped = faults.stopped.lock().unwrap();
            let followers: Vec<&String> = (0..urls.len())
                .filter(|i| *i != leader && !stopped.contains(i))
                .map(|i| &urls[i])
                .collect();
            followers[(attempt + key.len()) % followers.len()].clone()
        };
        let req = match op {
            Op::Create(name) => http.post(format!("{url}/jobs")).json(&job_json(name, "1")),
            Op::Delete(id) => http.delete(format!("{url}/jobs/{id}")),
        };
        let answer = match req.header("Idempotency-Key", key).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        };
        let status = answer.0;
        log.answers.push(answer);
        match status {
            503 => return log,
            0 | 504 => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => return log,
        }
    }
    log
}

/// Waits until the members other than `old` agree on a new leader, and tells the clients.
async fn wait_new_leader(cluster: &Cluster, faults: &Faults, old: usize) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = BTreeSet::new();
        for (i, m) in cluster.masters.iter().enumerate() {
            if i == old {
                continue;
            }
            let leader = async {
                let r = http
                    .get(format!("{}/readyz", m.url()))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .ok()?;
                r.json::<Value>().await.ok()?["leader"].as_u64()
            };
            seen.insert(leader.await);
        }
        if let [Some(l)] = seen.iter().cloned().collect::<Vec<_>>()[..]
            && l as usize - 1 != old
        {
            *faults.leader.lock().unwrap() = l as usize - 1;
            return;
        }
        assert!(Instant::now() < deadline, "no new leader after {old}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The jobs one member has applied, read from its own state: name to full id.
async fn stale_names(http: &reqwest::Client, url: &str) -> BTreeMap<String, String> {
    let Ok(resp) = http.get(format!("{url}/jobs?stale=true")).send().await else {
        return BTreeMap::new();
    };
    resp.json::<BTreeMap<String, Value>>()
        .await
        .map(|jobs| {
            jobs.into_keys()
                .map(|id| (id.split(':').next().unwrap_or_default().to_string(), id))
                .collect()
        })
        .unwrap_or_default()
}

/// The key contract over REST on one master: a repeat gets the first answer, another request
/// with the same key is 409, a malformed key is 400, and every write's answer names its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_replays_its_first_answer_and_refuses_another_request() {
    let cluster = Cluster::start(1).await;
    let url = cluster.masters[0].url();
    let http = reqwest::Client::new();
    let create = |name: &str, key: Option<&str>| {
        let req = http.post(format!("{url}/jobs")).json(&job_json(name, "1"));
        match key {
            Some(k) => req.header("Idempotency-Key", k),
            None => req,
        }
    };
    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.unwrap();
        let key = resp
            .headers()
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap().to_string());
        (
            resp.status().as_u16(),
            key,
            resp.json::<Value>().await.unwrap(),
        )
    };

    let (status, key, first) = send(create("once", Some("k-1"))).await;
    assert_eq!((status, key.as_deref()), (200, Some("k-1")), "{first}");
    let (status, _, again) = send(create("once", Some("k-1"))).await;
    assert_eq!((status, &again), (200, &first));

    let (status, _, body) = send(create("other", Some("k-1"))).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["status"], "IDEMPOTENCY_KEY_REUSED");

    let (status, _, body) = send(create("bad", Some("a key"))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "INVALID_IDEMPOTENCY_KEY");
    assert!(body["message"].as_str().unwrap().contains("0x20"), "{body}");

    // Without a key a master makes one up and names it; a repeat without a key is a new
    // request, refused as Helios refuses it.
    let (status, key, body) = send(create("once", None)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "JOB_ALREADY_EXISTS");
    assert!(key.is_some_and(|k| k.starts_with("helios-")));

    // Deletes too: the first answer again, not JOB_NOT_FOUND.
    let id = first["id"].as_str().unwrap();
    let delete = || {
        http.delete(format!("{url}/jobs/{id}"))
            .header("Idempotency-Key", "d-1")
    };
    let (status, _, gone) = send(delete()).await;
    assert_eq!(status, 200, "{gone}");
    let (status, _, again) = send(delete()).await;
    assert_eq!((status, &again), (200, &gone));
    // Reads carry no key and are not affected by one.
    let (status, key, _) = send(http.post(format!("{url}/jobs/statuses")).json(&[id])).await;
    assert_eq!((status, key), (200, None));
}

/// A key sent through a follower and again straight to the leader is the same request, even
/// when forwarding re-encodes the URL (a raw `'` in the query, which the follower's HTTP client
/// sends as `%27`): the first answer, not a 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_the_same_request_through_any_member() {
    let cluster = Cluster::start(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let follower = (leader + 1) % 3;
    let body = job_json("anywhere", "1").to_string();
    let via_follower = raw_post(cluster.masters[follower].http_port, &body).await;
    assert!(via_follower.starts_with("HTTP/1.1 200"), "{via_follower}");
    let direct = raw_post(cluster.masters[leader].http_port, &body).await;
    assert!(direct.starts_with("HTTP/1.1 200"), "{direct}");
    let json = |answer: &str| answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    assert_eq!(json(&direct), json(&via_follower));
}

/// `POST /jobs?user=o'brien` with a key, written byte for byte (HTTP clients encode the `'`).
async fn raw_post(port: u16, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "POST /jobs?user=o'brien HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: through-any\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    answer
}
