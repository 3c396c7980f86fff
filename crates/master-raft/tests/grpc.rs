//! The public gRPC API end to end: masters started in-process (`helios-testkit`'s
//! `in_process`, on port-0 listeners), driven through the typed client of `helios-api`, raw
//! typed messages, the health and the reflection services.

use std::time::{Duration, Instant};

use helios_api::client::{
    Client, FORWARDED_METADATA, IDEMPOTENCY_METADATA, LEADER_METADATA, STATUS_METADATA, WatchObject,
};
use helios_api::v1::{self, EventType, ObjectKind};
use helios_api::{
    CreateDeploymentGroupStatus, DeploymentGroup, DeploymentGroupStatusResponse,
    DeploymentGroupStatusResponseStatus, Goal, Job, JobId, RolloutOptions,
};
use helios_master_raft::grpc::watch::MAX_WATCHES;
use helios_testkit::in_process::{InProcessCluster, InProcessMaster as Master};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A lazy channel to a master's HTTP port (gRPC).
async fn channel(m: &Master) -> Channel {
    Channel::from_shared(format!("http://{}", m.http))
        .unwrap()
        .connect_lazy()
}

/// Waits until the master reports the Helios service SERVING (a leader is known).
async fn wait_serving(m: &Master) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut health = HealthClient::new(channel(m).await);
    loop {
        let r = health
            .check(HealthCheckRequest {
                service: "helios.v1.Helios".into(),
            })
            .await;
        if let Ok(r) = r
            && r.get_ref().status() == ServingStatus::Serving
        {
            return;
        }
        assert!(Instant::now() < deadline, "master {} never served", m.id);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn job(name: &str, version: &str) -> Job {
    serde_json::from_value(serde_json::json!({
        "id": format!("{name}:{version}"),
        "image": "foo/bar:1",
    }))
    .expect("job JSON")
}

/// A job with several entries in its maps, which a protobuf message holds in `HashMap`s.
fn job_with_maps(name: &str, version: &str) -> Job {
    serde_json::from_value(serde_json::json!({
        "id": format!("{name}:{version}"),
        "image": "foo/bar:1",
        "env": {"A": "1", "B": "2", "C": "3", "D": "4", "E": "5", "F": "6"},
        "ports": {
            "http": {"internalPort": 80, "protocol": "tcp"},
            "dns": {"internalPort": 53, "externalPort": 5353, "protocol": "udp"},
            "admin": {"internalPort": 81}
        },
        "labels": {"x": "1", "y": "2", "z": "3"}
    }))
    .expect("job JSON")
}

async fn next(w: &mut helios_api::client::WatchStream) -> v1::WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("a watch response in time")
        .expect("watch ok")
        .expect("watch open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_watch_health_and_reflection_on_one_master() {
    let mut m = Master::single(&[]).await;
    wait_serving(&m).await;
    let client = Client::new([m.http.as_str()]).unwrap();

    // Health: the server as a whole and the Helios service.
    let mut health = HealthClient::new(channel(&m).await);
    for service in ["", "helios.v1.Helios"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert_eq!(r.get_ref().status(), ServingStatus::Serving, "{service:?}");
    }

    // Reflection, both versions, lists the services and describes helios.v1.
    reflection_lists_services(&m).await;

    // A watch opened before anything is created: an empty replay, then the create.
    let mut watch = client
        .watch(v1::WatchRequest {
            from_index: 0,
            kinds: vec![ObjectKind::Job as i32],
            ..Default::default()
        })
        .await
        .unwrap();
    let first = next(&mut watch).await;
    assert!(first.replay);
    assert!(first.events.is_empty(), "{first:?}");

    // Create, get, list.
    let id = client
        .create_job(&job("foo", "bar"), Some("alice"))
        .await
        .unwrap();
    assert_eq!(
        id.to_string(),
        "foo:bar:3f5c6e4aef30e1ab68931dbd66a83226410b87e9"
    );
    let got = client.get_job(&id).await.unwrap().expect("job exists");
    assert_eq!(got.image.as_deref(), Some("foo/bar:1"));
    assert_eq!(got.creating_user.as_deref(), Some("alice"));
    let listed = client.list_jobs("foo", None).await.unwrap();
    assert_eq!(listed.keys().collect::<Vec<_>>(), vec![&id.to_string()]);
    assert!(client.list_jobs("nothing", None).await.unwrap().is_empty());

    let created = next(&mut watch).await;
    assert!(!created.replay);
    let [event] = &created.events[..] else {
        panic!("one event expected: {created:?}")
    };
    assert_eq!(event.r#type(), EventType::Put);
    assert_eq!(event.kind(), ObjectKind::Job);
    assert_eq!(event.job_id, id.to_string());
    assert!(event.index > first.index && event.index <= created.index);
    match WatchObject::decode(event).unwrap() {
        Some(WatchObject::Job(j)) => assert_eq!(j.id.as_ref(), Some(&id)),
        other => panic!("a job expected: {other:?}"),
    }
    let after_first = created.index;

    // Refusals carry their codes and Helios's words.
    let e = client
        .create_job(&job("foo", "bar"), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(Code::AlreadyExists));
    assert_eq!(e.helios_status(), Some("JOB_ALREADY_EXISTS"));
    let mut bad = job("bad", "1");
    bad.image = None;
    let e = client.create_job(&bad, None).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::InvalidArgument));
    assert_eq!(e.helios_status(), Some("INVALID_JOB_DEFINITION"));
    match &e {
        helios_api::client::ClientError::Status { errors, .. } => {
            assert!(!errors.is_empty(), "{e}")
        }
        other => panic!("{other}"),
    }
    let e = client
        .get_job(&"foo:bar".parse::<JobId>().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(Code::InvalidArgument));

    // A typed job that Helios's JSON could not express is refused, naming the field.
    let mut raw = v1::helios_client::HeliosClient::new(channel(&m).await);
    let mut typed = v1::Job::from(job("typed", "1"));
    typed.ports.insert(
        "http".into(),
        v1::PortMapping {
            internal_port: 80,
            ip: Some("localhost".into()),
            ..Default::default()
        },
    );
    for (job, field) in [
        (Some(typed), r#"job.ports["http"].ip"#),
        (None, "job: missing (required)"),
    ] {
        let e = raw
            .create_job(v1::CreateJobRequest {
                job,
                user: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert_eq!(
            e.metadata().get(STATUS_METADATA).unwrap(),
            "INVALID_JOB_DEFINITION"
        );
        assert!(e.message().contains(field), "{field}: {e:?}");
    }
    // A typed job answers with typed fields.
    let entry = raw
        .get_job(v1::GetJobRequest {
            job_id: id.to_string(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner();
    let typed = entry.job.expect("a typed job");
    assert_eq!(typed.image.as_deref(), Some("foo/bar:1"));
    assert_eq!(typed.id.unwrap().canonical, id.to_string());

    // A deployed job cannot be removed; undeployed, it can.
    client.register_host("h1", "AGENT1").await.unwrap();
    assert_eq!(client.list_hosts(None, &[]).await.unwrap(), vec!["h1"]);
    let mut hosts = client
        .watch(v1::WatchRequest {
            kinds: vec![ObjectKind::Host as i32],
            ..Default::default()
        })
        .await
        .unwrap();
    let replay = next(&mut hosts).await;
    let [event] = &replay.events[..] else {
        panic!("one host expected: {replay:?}")
    };
    assert_eq!(event.host, "h1");
    match WatchObject::decode(event).unwrap() {
        Some(WatchObject::Host(h)) => {
            assert_eq!(h.agent_id, "AGENT1");
            assert_eq!(h.status, helios_api::Status::Down);
        }
        other => panic!("a host expected: {other:?}"),
    }
    drop(hosts);
    client
        .deploy("h1", &id, Goal::Start, "", Some("bob"))
        .await
        .unwrap();
    let d = client
        .deployment("h1", &id)
        .await
        .unwrap()
        .expect("deployed");
    assert_eq!(d.deployer_user.as_deref(), Some("bob"));
    let status = client.job_status(&id).await.unwrap().expect("status");
    assert_eq!(status.deployments["h1"].goal, Goal::Start);
    assert_eq!(status.job.id.as_ref(), Some(&id));
    let statuses = client
        .job_statuses(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(statuses[&id.to_string()], status);
    let host = client.host_status("h1").await.unwrap().expect("host");
    assert_eq!(host.jobs[&id].goal, Goal::Start);
    assert_eq!(host.status, helios_api::Status::Down);
    let hosts = client
        .host_statuses(&["h1".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(hosts.keys().collect::<Vec<_>>(), vec!["h1"]);
    assert!(client.job_history(&id).await.unwrap().is_empty());
    let e = client
        .deploy("h1", &id, Goal::Start, "", None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(Code::AlreadyExists));
    let e = client.remove_job(&id, "").await.unwrap_err();
    assert_eq!(e.code(), Some(Code::FailedPrecondition));
    assert_eq!(e.helios_status(), Some("STILL_IN_USE"));
    let e = client.undeploy("h1", &id, "wrong").await.unwrap_err();
    assert_eq!(e.code(), Some(Code::PermissionDenied));
    client.set_goal("h1", &id, Goal::Stop, "").await.unwrap();
    client.undeploy("h1", &id, "").await.unwrap();
    assert!(client.deployment("h1", &id).await.unwrap().is_none());
    assert!(client.host_status("h1").await.unwrap().is_some());
    assert!(client.host_status("nope").await.unwrap().is_none());

    // A second job, then a watch resumed after the first job's creation: its replay holds
    // only the second job, and lists both as live.
    let id2 = client.create_job(&job("foo", "baz"), None).await.unwrap();
    let mut resumed = client
        .watch(v1::WatchRequest {
            from_index: after_first,
            kinds: vec![ObjectKind::Job as i32],
            ..Default::default()
        })
        .await
        .unwrap();
    let replay = next(&mut resumed).await;
    assert!(replay.replay);
    let replayed: Vec<_> = replay.events.iter().map(|e| e.job_id.as_str()).collect();
    assert_eq!(replayed, vec![id2.to_string()]);
    let mut live: Vec<_> = replay.live.iter().map(|o| o.job_id.clone()).collect();
    live.sort();
    assert_eq!(live, vec![id.to_string(), id2.to_string()]);

    // Remove: both watches see the deletion.
    client.remove_job(&id, "").await.unwrap();
    assert!(client.get_job(&id).await.unwrap().is_none());
    let e = client.remove_job(&id, "").await.unwrap_err();
    assert_eq!(e.code(), Some(Code::NotFound));
    for w in [&mut watch, &mut resumed] {
        let r = loop {
            let r = next(w).await;
            if r.events.iter().any(|e| e.r#type() == EventType::Delete) {
                break r;
            }
        };
        let del = r
            .events
            .iter()
            .find(|e| e.r#type() == EventType::Delete)
            .unwrap();
        assert_eq!(del.job_id, id.to_string());
        assert_eq!(del.index, r.index);
    }

    let v = client.version(Some("0.0.1")).await.unwrap();
    assert!(!v.server_version.is_empty());
    let masters = client.masters().await.unwrap();
    assert_eq!(masters.len(), 1);
    assert!(masters[0].leader);
    assert_eq!(masters[0].http_addr, m.http);

    // Shutting down ends the open watches instead of waiting for them.
    m.shutdown().await;
    let end = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the watch ends with the master");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
}

async fn reflection_lists_services(m: &Master) {
    use tonic_reflection::pb::{v1 as r1, v1alpha as r1a};
    let channel = channel(m).await;

    let mut c = r1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let reqs = vec![
        r1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        },
        r1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                r1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "helios.v1.Helios".into(),
                ),
            ),
        },
    ];
    let mut answers = c
        .server_reflection_info(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let list = answers.message().await.unwrap().unwrap();
    let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(l)) =
        list.message_response
    else {
        panic!("a service list expected: {list:?}")
    };
    let names: Vec<_> = l.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"helios.v1.Helios"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    let file = answers.message().await.unwrap().unwrap();
    let Some(r1::server_reflection_response::MessageResponse::FileDescriptorResponse(f)) =
        file.message_response
    else {
        panic!("a file descriptor expected: {file:?}")
    };
    assert!(!f.file_descriptor_proto.is_empty());

    let mut c = r1a::server_reflection_client::ServerReflectionClient::new(channel);
    let reqs = vec![r1a::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            r1a::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    }];
    let mut answers = c
        .server_reflection_info(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let list = answers.message().await.unwrap().unwrap();
    let Some(r1a::server_reflection_response::MessageResponse::ListServicesResponse(l)) =
        list.message_response
    else {
        panic!("a service list expected: {list:?}")
    };
    assert!(l.service.iter().any(|s| s.name == "helios.v1.Helios"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_forward_and_name_the_leader() {
    let mut cluster = InProcessCluster::start(3).await;
    let masters = &mut cluster.masters;
    for m in masters.iter() {
        wait_serving(m).await;
    }
    let all = Client::new(masters.iter().map(|m| m.http.clone())).unwrap();
    let list = all.masters().await.unwrap();
    assert_eq!(list.len(), 3);
    let leader = list.iter().find(|m| m.leader).expect("a leader").clone();
    let follower = masters
        .iter()
        .find(|m| m.http != leader.http_addr)
        .expect("a follower");

    // A client that knows only a follower works: the follower forwards.
    let via_follower = Client::new([follower.http.as_str()]).unwrap();
    let mut watch = via_follower
        .watch(v1::WatchRequest::default())
        .await
        .unwrap();
    assert!(next(&mut watch).await.replay);
    let id = via_follower
        .create_job(&job("fwd", "1"), None)
        .await
        .unwrap();
    assert!(via_follower.get_job(&id).await.unwrap().is_some());
    // Deployment-group writes and reads are forwarded too.
    assert_eq!(
        via_follower
            .create_deployment_group(&group("fwd", "web"))
            .await
            .unwrap(),
        CreateDeploymentGroupStatus::Created
    );
    via_follower.rolling_update("fwd", &id, None).await.unwrap();
    let status = via_follower.deployment_group_status("fwd").await.unwrap();
    assert_eq!(
        status.map(|s| s.status),
        Some(DeploymentGroupStatusResponseStatus::Active)
    );
    assert_eq!(
        via_follower.list_deployment_groups().await.unwrap(),
        vec!["fwd"]
    );
    assert_eq!(
        via_follower.current_endpoint(),
        format!("http://{}", follower.http)
    );
    // The follower's own watch sees the job once the follower applied it.
    let seen = loop {
        let r = next(&mut watch).await;
        if let Some(e) = r.events.iter().find(|e| e.kind() == ObjectKind::Job) {
            break e.clone();
        }
    };
    assert_eq!(seen.job_id, id.to_string());

    // A request already forwarded once is not forwarded again: UNAVAILABLE naming the leader.
    let mut raw = v1::helios_client::HeliosClient::new(channel(follower).await);
    let mut req = tonic::Request::new(v1::ListMastersRequest::default());
    req.metadata_mut()
        .insert(FORWARDED_METADATA, "1".parse().unwrap());
    let e = raw.list_masters(req).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert_eq!(
        e.metadata().get(LEADER_METADATA).unwrap().to_str().unwrap(),
        leader.http_addr
    );

    // A write with an idempotency key, through the follower: applied once, a repeat gets the
    // first answer, the same key with another request is refused.
    // The job has maps, which every decoding orders anew: the key's fingerprint must not
    // depend on that order.
    let keyed = |job: &Job, key: &str| {
        let mut req = tonic::Request::new(v1::CreateJobRequest {
            job: Some(job.into()),
            user: "alice".into(),
        });
        req.metadata_mut()
            .insert(IDEMPOTENCY_METADATA, key.parse().unwrap());
        req
    };
    let first = raw
        .create_job(keyed(&job_with_maps("once", "1"), "k-1"))
        .await
        .unwrap();
    for _ in 0..3 {
        let again = raw
            .create_job(keyed(&job_with_maps("once", "1"), "k-1"))
            .await
            .unwrap();
        assert_eq!(first.get_ref().job_id, again.get_ref().job_id);
    }
    // A job with maps gets the id REST gives it (computed from its JSON), and keeps its maps.
    let mapped = job_with_maps("once", "1");
    let mapped_id = mapped.clone().with_hash().id.unwrap();
    assert_eq!(first.get_ref().job_id, mapped_id.to_string());
    let stored = via_follower.get_job(&mapped_id).await.unwrap().unwrap();
    assert_eq!((&stored.env, &stored.ports), (&mapped.env, &mapped.ports));
    let e = raw
        .create_job(keyed(&job("once", "2"), "k-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        e.metadata().get(STATUS_METADATA).unwrap(),
        "IDEMPOTENCY_KEY_REUSED"
    );
    let e = raw
        .create_job(keyed(&job("once", "3"), "a key"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(
        e.metadata().get(STATUS_METADATA).unwrap(),
        "INVALID_IDEMPOTENCY_KEY"
    );
    // Without a key, a second create of the same job is refused as it always was.
    let e = via_follower
        .create_job(&job_with_maps("once", "1"), None)
        .await
        .unwrap_err();
    assert_eq!(e.helios_status(), Some("JOB_ALREADY_EXISTS"));

    // The leader stops: a client of all masters carries on with the new leader.
    let leader_index = masters
        .iter()
        .position(|m| m.http == leader.http_addr)
        .unwrap();
    masters[leader_index].shutdown().await;
    let id2 = all.create_job(&job("fwd", "2"), None).await.unwrap();
    assert!(all.get_job(&id2).await.unwrap().is_some());
    // The stopped master drops out of the live list once it misses the leader's heartbeats,
    // and stays in the full list, down.
    let deadline = Instant::now() + Duration::from_secs(30);
    while all.masters().await.unwrap().len() != 2 {
        assert!(
            Instant::now() < deadline,
            "the stopped master is still listed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let every = all.all_masters().await.unwrap();
    assert_eq!(every.len(), 3);
    let down: Vec<_> = every.iter().filter(|m| !m.up).collect();
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].http_addr, leader.http_addr);
    assert_eq!(
        every
            .iter()
            .filter(|m| m.role() == v1::MasterRole::Leader)
            .count(),
        1
    );

    cluster.shutdown().await;
}

/// A master serves at most `MAX_WATCHES` watches at once: one more is refused with
/// RESOURCE_EXHAUSTED naming the limit, until an open one ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watches_beyond_the_limit_are_refused() {
    let mut m = Master::single(&[]).await;
    wait_serving(&m).await;
    // Several connections: an HTTP/2 connection carries a bounded number of streams at once.
    const PER_CONNECTION: usize = 64;
    let mut clients = Vec::new();
    for _ in 0..MAX_WATCHES.div_ceil(PER_CONNECTION) {
        clients.push(v1::helios_client::HeliosClient::new(channel(&m).await));
    }
    let request = || v1::WatchRequest {
        kinds: vec![ObjectKind::Job as i32],
        ..Default::default()
    };
    let mut open = Vec::new();
    for i in 0..MAX_WATCHES {
        let mut stream = clients[i / PER_CONNECTION]
            .watch(request())
            .await
            .unwrap_or_else(|e| panic!("watch {i}: {e:?}"))
            .into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert!(first.replay);
        open.push(stream);
    }
    let refused = clients[0].watch(request()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(
        refused.metadata().get(STATUS_METADATA).unwrap(),
        "TOO_MANY_WATCHES"
    );
    assert!(
        refused.message().contains(&MAX_WATCHES.to_string()),
        "{refused:?}"
    );

    // One watch ends: its permit comes back once the master sees the stream gone.
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut again = loop {
        match clients[0].watch(request()).await {
            Ok(r) => break r.into_inner(),
            Err(e) if e.code() == Code::ResourceExhausted => {
                assert!(Instant::now() < deadline, "the permit never came back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert!(again.message().await.unwrap().unwrap().replay);
    drop(open);
    drop(again);
    m.shutdown().await;
}

/// A deployment group of `role=<role>` hosts.
fn group(name: &str, role: &str) -> DeploymentGroup {
    DeploymentGroup::new(name, vec![format!("role={role}").parse().unwrap()])
}

/// The gRPC code and Helios's status word of a refusal.
fn refused<T: std::fmt::Debug>(
    r: Result<T, helios_api::client::ClientError>,
) -> (Option<Code>, Option<String>) {
    let e = r.expect_err("a refusal");
    (e.code(), e.helios_status().map(str::to_string))
}

fn word(code: Code, word: &str) -> (Option<Code>, Option<String>) {
    (Some(code), Some(word.to_string()))
}

/// Deployment groups through gRPC (reference §3, §5.2): created (CREATED, NOT_MODIFIED,
/// CONFLICT as ALREADY_EXISTS), listed, read, their status before any rollout, removed, and
/// Helios's refusals with their codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployment_groups_are_created_listed_read_and_removed_with_helios_statuses() {
    let mut m = Master::single(&[]).await;
    wait_serving(&m).await;
    let client = Client::new([m.http.as_str()]).unwrap();
    let mut raw = v1::helios_client::HeliosClient::new(channel(&m).await);

    let web = group("web", "web");
    assert_eq!(
        client.create_deployment_group(&web).await.unwrap(),
        CreateDeploymentGroupStatus::Created
    );
    assert_eq!(
        client.create_deployment_group(&web).await.unwrap(),
        CreateDeploymentGroupStatus::NotModified
    );
    assert_eq!(
        refused(client.create_deployment_group(&group("web", "db")).await),
        word(Code::AlreadyExists, "CONFLICT")
    );
    let db: DeploymentGroup = serde_json::from_value(serde_json::json!({
        "name": "db",
        "hostSelectors": [
            {"label": "role", "operand": "db", "operator": "EQUALS"},
            {"label": "dc", "operand": ["ams", "lon"], "operator": "IN"}
        ]
    }))
    .unwrap();
    assert_eq!(
        client.create_deployment_group(&db).await.unwrap(),
        CreateDeploymentGroupStatus::Created
    );

    assert_eq!(
        client.list_deployment_groups().await.unwrap(),
        vec!["db", "web"]
    );
    assert_eq!(client.deployment_group("db").await.unwrap(), Some(db));
    let status = client
        .deployment_group_status("web")
        .await
        .unwrap()
        .expect("a status");
    assert_eq!(
        status,
        DeploymentGroupStatusResponse::new(web, None, vec![])
    );
    assert_eq!(status.status, DeploymentGroupStatusResponseStatus::Idle);
    assert_eq!(status.error.as_deref(), Some(""));

    // Typed selectors Helios's JSON could not express, a group left out, a name that is not
    // a path segment: INVALID_ARGUMENT naming the field.
    let selector = |operator: v1::HostSelectorOperator, operands: &[&str]| v1::HostSelector {
        label: "role".into(),
        operands: operands.iter().map(|o| o.to_string()).collect(),
        operator: operator.into(),
    };
    for (deployment_group, field) in [
        (
            Some(v1::DeploymentGroup {
                name: "bad".into(),
                host_selectors: vec![selector(v1::HostSelectorOperator::Unspecified, &["x"])],
                ..Default::default()
            }),
            "deployment_group.host_selectors[0].operator",
        ),
        (
            Some(v1::DeploymentGroup {
                name: "bad".into(),
                host_selectors: vec![selector(v1::HostSelectorOperator::Equals, &["x", "y"])],
                ..Default::default()
            }),
            "deployment_group.host_selectors[0].operands",
        ),
        (None, "deployment_group: missing (required)"),
        (Some(v1::DeploymentGroup::from(group("a/b", "web"))), "a/b"),
    ] {
        let e = raw
            .create_deployment_group(v1::CreateDeploymentGroupRequest { deployment_group })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert_eq!(
            e.metadata().get(STATUS_METADATA).unwrap(),
            "INVALID_DEPLOYMENT_GROUP"
        );
        assert!(e.message().contains(field), "{field}: {e:?}");
    }
    assert_eq!(
        client.list_deployment_groups().await.unwrap(),
        vec!["db", "web"]
    );

    // An unknown group: NOT_FOUND (DEPLOYMENT_GROUP_NOT_FOUND) everywhere; the typed client's
    // lookups answer None.
    assert_eq!(client.deployment_group("nope").await.unwrap(), None);
    assert_eq!(client.deployment_group_status("nope").await.unwrap(), None);
    let group_not_found = |e: tonic::Status| {
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(
            e.metadata().get(STATUS_METADATA).unwrap(),
            "DEPLOYMENT_GROUP_NOT_FOUND"
        );
    };
    let name = || "nope".to_string();
    group_not_found(
        raw.get_deployment_group(v1::GetDeploymentGroupRequest { name: name() })
            .await
            .unwrap_err(),
    );
    group_not_found(
        raw.deployment_group_status(v1::DeploymentGroupStatusRequest { name: name() })
            .await
            .unwrap_err(),
    );
    let not_found = word(Code::NotFound, "DEPLOYMENT_GROUP_NOT_FOUND");
    assert_eq!(
        refused(client.remove_deployment_group("nope").await),
        not_found
    );
    assert_eq!(
        refused(client.stop_deployment_group("nope").await),
        not_found
    );
    let id = client.create_job(&job("web", "1"), None).await.unwrap();
    assert_eq!(
        refused(client.rolling_update("nope", &id, None).await),
        not_found
    );

    // Remove: gone from the list and from reads; a second remove is NOT_FOUND.
    client.remove_deployment_group("web").await.unwrap();
    assert_eq!(client.list_deployment_groups().await.unwrap(), vec!["db"]);
    assert_eq!(client.deployment_group("web").await.unwrap(), None);
    assert_eq!(
        refused(client.remove_deployment_group("web").await),
        not_found
    );
    m.shutdown().await;
}

/// A rolling update of a group that has no hosts plans nothing and is DONE (ACTIVE) at once,
/// with the job and the resolved options stored on the group; stopping it makes it FAILED
/// with "Stopped by user". Bad requests are refused with Helios's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_update_of_a_group_without_hosts_is_done_at_once_and_stop_fails_it() {
    let mut m = Master::single(&[]).await;
    wait_serving(&m).await;
    let client = Client::new([m.http.as_str()]).unwrap();
    let mut raw = v1::helios_client::HeliosClient::new(channel(&m).await);
    client
        .create_deployment_group(&group("web", "web"))
        .await
        .unwrap();
    let id = client.create_job(&job("web", "1"), None).await.unwrap();

    for (options, what) in [
        (
            RolloutOptions {
                parallelism: Some(0),
                ..RolloutOptions::default()
            },
            "parallelism",
        ),
        (
            RolloutOptions {
                timeout: Some(0),
                ..RolloutOptions::default()
            },
            "timeout",
        ),
    ] {
        let e = client
            .rolling_update("web", &id, Some(&options))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(Code::InvalidArgument), "{e}");
        assert_eq!(e.helios_status(), Some("INVALID_ROLLOUT_OPTIONS"));
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
    let unknown: JobId = "web:2:3f5c6e4aef30e1ab68931dbd66a83226410b87e9"
        .parse()
        .unwrap();
    assert_eq!(
        refused(client.rolling_update("web", &unknown, None).await),
        word(Code::NotFound, "JOB_NOT_FOUND")
    );
    let e = raw
        .rolling_update(v1::RollingUpdateRequest {
            name: "web".into(),
            job_id: "a:b:c:d".into(),
            rollout_options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.metadata().get(STATUS_METADATA).unwrap(), "INVALID_ID");
    // Nothing above started a rollout.
    let idle = client
        .deployment_group_status("web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(idle.status, DeploymentGroupStatusResponseStatus::Idle);

    let options = RolloutOptions {
        parallelism: Some(2),
        token: Some("t".into()),
        ..RolloutOptions::default()
    };
    client
        .rolling_update("web", &id, Some(&options))
        .await
        .unwrap();
    let done = client
        .deployment_group_status("web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, DeploymentGroupStatusResponseStatus::Active);
    assert_eq!(
        done.deployment_group_status,
        Some(helios_api::DeploymentGroupStatus::done())
    );
    assert_eq!(done.error, None);
    assert!(done.host_statuses.is_empty());
    let stored = client.deployment_group("web").await.unwrap().unwrap();
    assert_eq!(stored, done.deployment_group);
    assert_eq!(stored.job_id, Some(id.clone()));
    assert_eq!(
        stored.rolling_update_reason,
        Some(helios_api::RollingUpdateReason::Manual)
    );
    assert_eq!(
        stored.rollout_options,
        Some(options.with_fallback(&RolloutOptions::defaults()))
    );

    client.stop_deployment_group("web").await.unwrap();
    let stopped = client
        .deployment_group_status("web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stopped.status, DeploymentGroupStatusResponseStatus::Failed);
    assert_eq!(stopped.error.as_deref(), Some("Stopped by user"));
    assert_eq!(
        stopped.deployment_group_status,
        Some(helios_api::DeploymentGroupStatus::failed("Stopped by user"))
    );
    // A stopped group recovers with a new rolling update.
    client.rolling_update("web", &id, None).await.unwrap();
    let again = client
        .deployment_group_status("web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.status, DeploymentGroupStatusResponseStatus::Active);
    m.shutdown().await;
}

/// The group's status view of each deployment-group event, decoded.
fn group_view(e: &v1::WatchEvent) -> DeploymentGroupStatusResponse {
    match WatchObject::decode(e).unwrap() {
        Some(WatchObject::DeploymentGroup(view)) => *view,
        other => panic!("a deployment group expected: {other:?}"),
    }
}

/// Waits for the next deployment-group event of a watch.
async fn next_group_event(w: &mut helios_api::client::WatchStream) -> v1::WatchEvent {
    loop {
        let r = next(w).await;
        if let Some(e) = r
            .events
            .iter()
            .find(|e| e.kind() == ObjectKind::DeploymentGroup)
        {
            assert!(e.index <= r.index, "{r:?}");
            return e.clone();
        }
    }
}

/// The next response of a watch filtered to the group `web`, which must hold one event of
/// that group and nothing else: the group's status, `None` for a DELETE.
async fn web_status(
    w: &mut helios_api::client::WatchStream,
) -> Option<DeploymentGroupStatusResponseStatus> {
    let r = next(w).await;
    let [e] = &r.events[..] else {
        panic!("one event of group web expected: {r:?}")
    };
    assert_eq!(e.kind(), ObjectKind::DeploymentGroup, "{e:?}");
    assert_eq!(e.deployment_group, "web");
    match e.r#type() {
        EventType::Delete => None,
        _ => Some(group_view(e).status),
    }
}

/// A watch of deployment groups sees a group created (IDLE), its status change (ACTIVE after
/// a rolling update, FAILED when stopped) and its removal; a resumed watch replays only what
/// changed and lists every live group; a filter on the group's name reports it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_sees_a_group_created_its_status_changing_and_its_removal() {
    let mut m = Master::single(&[]).await;
    wait_serving(&m).await;
    let client = Client::new([m.http.as_str()]).unwrap();
    let id = client.create_job(&job("web", "1"), None).await.unwrap();

    let mut watch = client
        .watch(v1::WatchRequest {
            kinds: vec![ObjectKind::DeploymentGroup as i32],
            ..Default::default()
        })
        .await
        .unwrap();
    let first = next(&mut watch).await;
    assert!(first.replay && first.events.is_empty(), "{first:?}");
    // Every kind, filtered to the group `web`.
    let mut only_web = client
        .watch(v1::WatchRequest {
            deployment_group: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(next(&mut only_web).await.events.is_empty());

    client
        .create_deployment_group(&group("web", "web"))
        .await
        .unwrap();
    let created = next_group_event(&mut watch).await;
    assert_eq!(created.r#type(), EventType::Put);
    assert_eq!(created.deployment_group, "web");
    assert_eq!((created.job_id.as_str(), created.host.as_str()), ("", ""));
    assert_eq!(created.create_index, created.index);
    let mut filtered = vec![web_status(&mut only_web).await];
    let view = group_view(&created);
    assert_eq!(view.status, DeploymentGroupStatusResponseStatus::Idle);
    assert_eq!(view.deployment_group, group("web", "web"));
    assert_eq!(
        client.deployment_group_status("web").await.unwrap(),
        Some(view)
    );

    client
        .create_deployment_group(&group("db", "db"))
        .await
        .unwrap();
    assert_eq!(next_group_event(&mut watch).await.deployment_group, "db");

    client.rolling_update("web", &id, None).await.unwrap();
    let active = next_group_event(&mut watch).await;
    assert_eq!(active.deployment_group, "web");
    assert_eq!(active.create_index, created.create_index);
    assert!(active.index > created.index);
    filtered.push(web_status(&mut only_web).await);
    let view = group_view(&active);
    assert_eq!(view.status, DeploymentGroupStatusResponseStatus::Active);
    assert_eq!(view.deployment_group.job_id, Some(id.clone()));
    let after_active = active.index;

    client.stop_deployment_group("web").await.unwrap();
    let stopped = next_group_event(&mut watch).await;
    filtered.push(web_status(&mut only_web).await);
    let view = group_view(&stopped);
    assert_eq!(view.status, DeploymentGroupStatusResponseStatus::Failed);
    assert_eq!(view.error.as_deref(), Some("Stopped by user"));

    // Resumed after the rolling update: the replay holds only the stop, and every group is
    // live.
    let mut resumed = client
        .watch(v1::WatchRequest {
            from_index: after_active,
            kinds: vec![ObjectKind::DeploymentGroup as i32],
            ..Default::default()
        })
        .await
        .unwrap();
    let replay = next(&mut resumed).await;
    assert!(replay.replay);
    let replayed: Vec<_> = replay
        .events
        .iter()
        .map(|e| (e.deployment_group.as_str(), e.index))
        .collect();
    assert_eq!(replayed, vec![("web", stopped.index)]);
    let mut live: Vec<_> = replay
        .live
        .iter()
        .map(|o| (o.kind(), o.deployment_group.clone()))
        .collect();
    live.sort();
    assert_eq!(
        live,
        vec![
            (ObjectKind::DeploymentGroup, "db".to_string()),
            (ObjectKind::DeploymentGroup, "web".to_string())
        ]
    );

    client.remove_deployment_group("web").await.unwrap();
    for w in [&mut watch, &mut resumed] {
        let removed = next_group_event(w).await;
        assert_eq!(removed.r#type(), EventType::Delete);
        assert_eq!(removed.deployment_group, "web");
        assert!(removed.object.is_none());
    }
    filtered.push(web_status(&mut only_web).await);

    // The filtered watch saw web alone (no job, no db): created, active, stopped, removed.
    use DeploymentGroupStatusResponseStatus::{Active, Failed, Idle};
    assert_eq!(filtered, vec![Some(Idle), Some(Active), Some(Failed), None]);
    m.shutdown().await;
}

/// `ListJobs` answers in pages, bounded by count (`page_size`, 1,000 when 0) and by size (under
/// the 4 MiB a gRPC client accepts by default, whatever the jobs' size); each page's token
/// leads to the next, and the typed client follows them to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_jobs_answers_in_pages() {
    let mut m = Master::single(&[]).await;
    wait_serving(&m).await;
    let client = Client::new([m.http.as_str()]).unwrap();
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(
            client
                .create_job(&job(&format!("small{i:02}"), "1"), None)
                .await
                .unwrap()
                .to_string(),
        );
    }
    // Ten jobs of 400 KB each: 4 MB in all.
    for i in 0..10 {
        let big: Job = serde_json::from_value(serde_json::json!({
            "id": format!("big{i}:1"),
            "image": "foo/bar:1",
            "env": {"PADDING": "p".repeat(400_000)},
        }))
        .unwrap();
        created.push(client.create_job(&big, None).await.unwrap().to_string());
    }
    created.sort();

    // By count: 10, 10, 5.
    let mut raw = v1::helios_client::HeliosClient::new(channel(&m).await);
    let mut req = v1::ListJobsRequest {
        query: "small".into(),
        page_size: 10,
        ..Default::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = raw.list_jobs(req.clone()).await.unwrap().into_inner();
        pages.push(
            page.jobs
                .iter()
                .map(|e| e.job_id.clone())
                .collect::<Vec<_>>(),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
    let small: Vec<String> = created
        .iter()
        .filter(|id| id.starts_with("small"))
        .cloned()
        .collect();
    assert_eq!(pages.concat(), small);

    // By size: a client with gRPC's default 4 MiB limit reads every page.
    let mut req = v1::ListJobsRequest {
        query: "big".into(),
        ..Default::default()
    };
    let mut big = Vec::new();
    let mut page_count = 0;
    loop {
        let page = raw.list_jobs(req.clone()).await.unwrap().into_inner();
        page_count += 1;
        assert!(!page.jobs.is_empty());
        big.extend(page.jobs.into_iter().map(|e| e.job_id));
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    assert!(page_count >= 2, "4 MB of jobs in {page_count} page");
    assert_eq!(big.len(), 10);

    let all = client.list_jobs("", None).await.unwrap();
    assert_eq!(all.into_keys().collect::<Vec<_>>(), created);
    m.shutdown().await;
}
