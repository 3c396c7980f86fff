//! Agents on the machine's real Docker engine, driven through three real masters: deploys,
//! statuses, history, ports, leader changes, masters down, agent restarts and Helios's errors.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use helios_testkit::agents::Agent;
use helios_testkit::api::{
    call, create_job, deploy_with_token as deploy, task, wait_hosts_up, wait_task,
};
use helios_testkit::docker::{containers_named, docker, ensure_busybox_image, inspect};
use helios_testkit::{Cluster, eventually, exclusive};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

async fn wait_state(c: &reqwest::Client, url: &str, job: &str, host: &str, state: &str) -> Value {
    wait_task(c, url, job, host, WAIT, state, |t| t["state"] == state).await
}

fn sleeper(name: &str, image: &str) -> Value {
    json!({"id": format!("{name}:1"), "image": image, "command": ["sleep", "100000"],
           "secondsToWaitBeforeKill": 1})
}

fn start_agents(cluster: &Cluster, names: &[&str], range: &str) -> Vec<Agent> {
    names
        .iter()
        .map(|n| {
            let mut a = Agent::new(n, cluster.dir.path(), cluster.cluster_addrs(), range);
            a.start();
            a
        })
        .collect()
}

/// Deploy to three agents: RUNNING everywhere; undeploy: statuses gone, containers stopped;
/// the history has Helios's sequence of states with container ids where they belong.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploy_to_three_agents_then_undeploy() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(3).await;
    let names = ["dep-a", "dep-b", "dep-c"];
    let agents = start_agents(&cluster, &names, "31000:31100");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &names).await;
    let job = create_job(&c, &url, sleeper("dep", image)).await;
    for h in names {
        let (s, v) = deploy(&c, &url, &job, h, "").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "OK");
    }
    for h in names {
        let t = wait_state(&c, &url, &job, h, "RUNNING").await;
        let id = t["containerId"].as_str().unwrap();
        assert_eq!(inspect(id, "{{.State.Running}}").as_deref(), Some("true"));
    }
    for h in names {
        let (s, v) = call(c.delete(format!("{url}/hosts/{h}/jobs/{job}"))).await;
        assert_eq!(s, 200, "{v}");
    }
    for (h, agent) in names.iter().zip(&agents) {
        eventually(WAIT, "task status gone", || async {
            task(&c, &url, &job, h).await.is_none().then_some(())
        })
        .await;
        let prefix = agent.container_prefix().unwrap();
        eventually(WAIT, "containers stopped", || async {
            containers_named(&prefix, false).is_empty().then_some(())
        })
        .await;
    }
    let (_, history) = call(c.get(format!("{url}/history/jobs/{job}"))).await;
    let events = history["events"].as_array().unwrap();
    let on_a: Vec<&Value> = events.iter().filter(|e| e["host"] == "dep-a").collect();
    let states: Vec<&str> = on_a
        .iter()
        .map(|e| e["status"]["state"].as_str().unwrap())
        .collect();
    let pos = |s: &str| {
        states
            .iter()
            .position(|x| *x == s)
            .unwrap_or_else(|| panic!("no {s} in {states:?}"))
    };
    assert!(
        pos("CREATING") < pos("STARTING") && pos("STARTING") < pos("RUNNING"),
        "{states:?}"
    );
    assert!(pos("RUNNING") < pos("STOPPING"), "{states:?}");
    assert!(
        states.iter().any(|s| *s == "STOPPED" || *s == "EXITED"),
        "{states:?}"
    );
    for e in &on_a {
        let state = e["status"]["state"].as_str().unwrap();
        let cid = &e["status"]["containerId"];
        match state {
            "PULLING_IMAGE" | "CREATING" => assert!(cid.is_null(), "{state} has a container id"),
            "STARTING" | "RUNNING" => assert!(cid.is_string(), "{state} lacks a container id"),
            _ => {}
        }
    }
}

/// `HELIOS_PORT_<name>` is `<agent name>:<external port>`; the dynamic port lies in the
/// agent's range and survives a killed container and an agent restart, which adopts the
/// running container (same id, exactly one container).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ports_env_and_adoption() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(3).await;
    let mut agents = start_agents(&cluster, &["port-a"], "31200:31300");
    let c = reqwest::Client::new();
    let url = cluster.masters[1].url();
    wait_hosts_up(&c, &url, &["port-a"]).await;
    let mut body = sleeper("ported", image);
    body["ports"] = json!({"web": {"internalPort": 8080}});
    let job = create_job(&c, &url, body).await;
    assert_eq!(deploy(&c, &url, &job, "port-a", "").await.0, 200);
    let t = wait_state(&c, &url, &job, "port-a", "RUNNING").await;
    let port = t["ports"]["web"]["externalPort"]
        .as_i64()
        .expect("external port");
    assert!((31200..31300).contains(&port), "{port}");
    let id1 = t["containerId"].as_str().unwrap().to_string();
    let env = inspect(&id1, "{{json .Config.Env}}").unwrap();
    assert!(
        env.contains(&format!("HELIOS_PORT_web=port-a:{port}")),
        "{env}"
    );

    // Killed container: restarted with the same port.
    docker(&["kill", &id1]).unwrap();
    let t = eventually(WAIT, "a new container", || async {
        let t = task(&c, &url, &job, "port-a").await?;
        (t["state"] == "RUNNING" && t["containerId"] != id1.as_str()).then_some(t)
    })
    .await;
    assert_eq!(t["ports"]["web"]["externalPort"].as_i64(), Some(port));
    let id2 = t["containerId"].as_str().unwrap().to_string();

    // Agent restart: the running container is adopted.
    agents[0].kill9();
    agents[0].start();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = wait_state(&c, &url, &job, "port-a", "RUNNING").await;
    assert_eq!(t["containerId"].as_str(), Some(id2.as_str()), "not adopted");
    assert_eq!(t["ports"]["web"]["externalPort"].as_i64(), Some(port));
    let prefix = agents[0].container_prefix().unwrap();
    assert_eq!(
        containers_named(&prefix, false).len(),
        1,
        "exactly one running container"
    );
}

/// The leader is killed while agents are connected: hosts never go DOWN, agents reach the new
/// leader, and a deploy made after the change reaches its agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_change_keeps_hosts_up() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let mut cluster = Cluster::start(3).await;
    let names = ["lc-a", "lc-b"];
    let _agents = start_agents(&cluster, &names, "31400:31500");
    let c = reqwest::Client::new();
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let url = cluster.masters[(leader + 1) % 3].url();
    wait_hosts_up(&c, &url, &names).await;
    let job1 = create_job(&c, &url, sleeper("lc1", image)).await;
    assert_eq!(deploy(&c, &url, &job1, "lc-a", "").await.0, 200);
    wait_state(&c, &url, &job1, "lc-a", "RUNNING").await;

    cluster.masters[leader].kill9();
    let watch_until = Instant::now() + Duration::from_secs(12);
    let mut seen = BTreeSet::new();
    while Instant::now() < watch_until {
        let (s, v) = call(c.post(format!("{url}/hosts/statuses")).json(&names)).await;
        if s == 200 {
            for n in names {
                let st = v[n]["status"].as_str().unwrap_or("?").to_string();
                assert_ne!(st, "DOWN", "{n} went DOWN during the leader change");
                seen.insert(st);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        seen.contains("UP"),
        "never saw the hosts after the change: {seen:?}"
    );
    let job2 = create_job(&c, &url, sleeper("lc2", image)).await;
    assert_eq!(deploy(&c, &url, &job2, "lc-b", "").await.0, 200);
    wait_state(&c, &url, &job2, "lc-b", "RUNNING").await;
}

/// With every master down, containers keep running and a killed one is started again by its
/// agent; when the masters return, the statuses catch up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn masters_down_agents_carry_on() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let mut cluster = Cluster::start(3).await;
    let _agents = start_agents(&cluster, &["md-a"], "31600:31700");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &["md-a"]).await;
    let job = create_job(&c, &url, sleeper("md", image)).await;
    assert_eq!(deploy(&c, &url, &job, "md-a", "").await.0, 200);
    let t = wait_state(&c, &url, &job, "md-a", "RUNNING").await;
    let id1 = t["containerId"].as_str().unwrap().to_string();
    for m in &mut cluster.masters {
        m.kill9();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(inspect(&id1, "{{.State.Running}}").as_deref(), Some("true"));
    docker(&["kill", &id1]).unwrap();
    let prefix = format!(
        "helios-{}-",
        std::fs::read_to_string(cluster.dir.path().join("md-a-state/id"))
            .unwrap()
            .trim()
    );
    let id2 = eventually(WAIT, "restart without masters", || async {
        let running = containers_named(&prefix, false);
        running
            .into_iter()
            .find(|id| !id1.starts_with(id.as_str()) && *id != id1)
    })
    .await;
    for m in &mut cluster.masters {
        m.start();
    }
    cluster.wait_leader(Duration::from_secs(60)).await;
    eventually(WAIT, "statuses catch up", || async {
        let t = task(&c, &url, &job, "md-a").await?;
        (t["state"] == "RUNNING" && t["containerId"].as_str() == Some(id2.as_str())).then_some(())
    })
    .await;
}

/// stop/start, and Helios's refusals: FORBIDDEN, PORT_CONFLICT, JOB_ALREADY_DEPLOYED,
/// STILL_IN_USE, and IMAGE_MISSING for an image that exists nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn goals_and_refusals() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(3).await;
    let _agents = start_agents(&cluster, &["gr-a"], "31800:31900");
    let c = reqwest::Client::new();
    let url = cluster.masters[2].url();
    wait_hosts_up(&c, &url, &["gr-a"]).await;

    let mut body = sleeper("tok", image);
    body["token"] = "s3cret".into();
    let tok = create_job(&c, &url, body).await;
    let (s, v) = deploy(&c, &url, &tok, "gr-a", "wrong").await;
    assert_eq!((s, v["status"].as_str()), (403, Some("FORBIDDEN")));
    let (s, v) = deploy(&c, &url, &tok, "gr-a", "s3cret").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("OK")));
    let (s, v) = deploy(&c, &url, &tok, "gr-a", "s3cret").await;
    assert_eq!(
        (s, v["status"].as_str()),
        (400, Some("JOB_ALREADY_DEPLOYED"))
    );
    let (s, v) = call(c.delete(format!("{url}/jobs/{tok}?token=s3cret"))).await;
    assert_eq!((s, v["status"].as_str()), (400, Some("STILL_IN_USE")));
    let (s, v) = deploy(&c, &url, &tok, "no-such-host", "s3cret").await;
    assert_eq!((s, v["status"].as_str()), (400, Some("HOST_NOT_FOUND")));

    // stop and start.
    wait_state(&c, &url, &tok, "gr-a", "RUNNING").await;
    let patch = |goal: &str| {
        c.patch(format!("{url}/hosts/gr-a/jobs/{tok}?token=s3cret"))
            .json(&json!({"jobId": tok, "goal": goal}))
    };
    let (s, v) = call(patch("STOP")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("OK")), "{v}");
    wait_state(&c, &url, &tok, "gr-a", "STOPPED").await;
    let (s, _) = call(patch("START")).await;
    assert_eq!(s, 200);
    wait_state(&c, &url, &tok, "gr-a", "RUNNING").await;

    // Two jobs with one static port on one host.
    let mut p1 = sleeper("static1", image);
    p1["ports"] = json!({"p": {"internalPort": 80, "externalPort": 31950}});
    let mut p2 = sleeper("static2", image);
    p2["ports"] = json!({"q": {"internalPort": 81, "externalPort": 31950}});
    let (j1, j2) = (
        create_job(&c, &url, p1).await,
        create_job(&c, &url, p2).await,
    );
    assert_eq!(deploy(&c, &url, &j1, "gr-a", "").await.0, 200);
    let (s, v) = deploy(&c, &url, &j2, "gr-a", "").await;
    assert_eq!((s, v["status"].as_str()), (400, Some("PORT_CONFLICT")));

    // An image that exists nowhere.
    let missing = create_job(&c, &url, sleeper("missing", "helios-no-such-image:42")).await;
    assert_eq!(deploy(&c, &url, &missing, "gr-a", "").await.0, 200);
    let t = wait_state(&c, &url, &missing, "gr-a", "FAILED").await;
    assert_eq!(t["throttled"], "IMAGE_MISSING", "{t}");
}

/// A second agent with another id under a name whose agent is alive is refused, and the
/// first agent's host stays UP with its task running.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_agent_with_the_same_name_is_refused() {
    let _serial = exclusive().await;
    let image = ensure_busybox_image();
    let cluster = Cluster::start(3).await;
    let first = start_agents(&cluster, &["twin"], "32000:32100");
    let c = reqwest::Client::new();
    let url = cluster.masters[0].url();
    wait_hosts_up(&c, &url, &["twin"]).await;
    let job = create_job(&c, &url, sleeper("twin", image)).await;
    assert_eq!(deploy(&c, &url, &job, "twin", "").await.0, 200);
    let t = wait_state(&c, &url, &job, "twin", "RUNNING").await;

    let other_dir = cluster.dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let mut second = Agent::new("twin", &other_dir, cluster.cluster_addrs(), "32100:32200");
    second.start();
    eventually(WAIT, "the second agent to be refused", || async {
        second
            .log_tail()
            .contains("Another agent already registered as 'twin'")
            .then_some(())
    })
    .await;
    assert_ne!(second.agent_id(), first[0].agent_id());
    let (_, v) = call(c.get(format!("{url}/hosts/twin/status"))).await;
    assert_eq!(v["status"], "UP", "{v}");
    let now = task(&c, &url, &job, "twin").await.unwrap();
    assert_eq!(now["containerId"], t["containerId"]);
    assert_eq!(now["state"], "RUNNING");
}
