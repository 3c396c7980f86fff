//! Every Helios JSON fixture under `tests/fixtures/` goes model → message → wire bytes →
//! message → model and must serialize to the same JSON, byte for byte; the `*.full.json`
//! fixtures set every field (checked), so a conversion that drops one fails here. Then the
//! refusals, each naming its field.

use std::collections::BTreeSet;
use std::fmt::Debug;

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The fixture kinds: the file name up to its first `.`.
const KINDS: &[&str] = &[
    "job",
    "deployment",
    "task_status",
    "task_status_event",
    "task_status_events",
    "job_status",
    "host_status",
    "deployment_group",
    "deployment_group_status",
    "deployment_group_status_response",
];

/// Round-trips one model value through its message and the wire; returns its JSON.
fn check<M, P>(name: &str, json: &str) -> Value
where
    M: DeserializeOwned + Serialize + Clone + PartialEq + Debug + TryFrom<P, Error = ConvertError>,
    P: From<M> + for<'a> From<&'a M> + Message + Default + PartialEq,
{
    let model: M = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
    let before = serde_json::to_string(&model).unwrap();
    let message = P::from(&model);
    assert!(
        message == P::from(model.clone()),
        "{name}: From<&M> differs"
    );
    let wire = P::decode(message.encode_to_vec().as_slice()).unwrap();
    let back = M::try_from(wire).unwrap_or_else(|e| panic!("{name}: {e}"));
    let after = serde_json::to_string(&back).unwrap();
    assert_eq!(after, before, "{name}: the JSON changed");
    assert_eq!(back, model, "{name}");
    serde_json::from_str(&before).unwrap()
}

fn check_fixture(kind: &str, name: &str, json: &str) -> Value {
    match kind {
        "job" => check::<Job, v1::Job>(name, json),
        "deployment" => check::<Deployment, v1::Deployment>(name, json),
        "task_status" => check::<TaskStatus, v1::TaskStatus>(name, json),
        "task_status_event" => check::<TaskStatusEvent, v1::TaskStatusEvent>(name, json),
        "task_status_events" => check::<TaskStatusEvents, v1::TaskStatusEvents>(name, json),
        "job_status" => check::<JobStatus, v1::JobStatus>(name, json),
        "host_status" => check::<HostStatus, v1::HostStatus>(name, json),
        "deployment_group" => check::<DeploymentGroup, v1::DeploymentGroup>(name, json),
        "deployment_group_status" => {
            check::<DeploymentGroupStatus, v1::DeploymentGroupStatus>(name, json)
        }
        "deployment_group_status_response" => {
            check::<DeploymentGroupStatusResponse, v1::DeploymentGroupStatusResponse>(name, json)
        }
        other => panic!("{name}: unknown fixture kind {other:?} (expected one of {KINDS:?})"),
    }
}

/// Where a `*.full.json` fixture leaves a field unset or at its zero value.
fn unset_fields(value: &Value, at: &str, out: &mut Vec<String>) {
    let unset = match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    };
    if unset {
        out.push(at.to_string());
    }
    match value {
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                unset_fields(v, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, v) in o {
                unset_fields(v, &format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_fixture_round_trips_with_unchanged_json() {
    let mut paths: Vec<_> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut kinds_seen = BTreeSet::new();
    let mut full_seen = BTreeSet::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_str().unwrap();
        let kind = name.split('.').next().unwrap();
        let json = std::fs::read_to_string(path).unwrap();
        let value = check_fixture(kind, name, &json);
        kinds_seen.insert(kind);
        if name.ends_with(".full.json") {
            full_seen.insert(kind);
            let mut unset = Vec::new();
            unset_fields(&value, kind, &mut unset);
            assert!(unset.is_empty(), "{name} leaves fields unset: {unset:?}");
        }
    }
    let kinds: BTreeSet<&str> = KINDS.iter().copied().collect();
    assert_eq!(kinds_seen, kinds, "a kind has no fixture");
    assert_eq!(full_seen, kinds, "a kind has no .full.json fixture");
}

#[test]
fn every_enum_value_round_trips() {
    use State::*;
    use ThrottleState::*;
    let job = Job::new(JobId::new("a", "1"), "i");
    for goal in [Goal::Start, Goal::Stop, Goal::Undeploy] {
        for state in [
            PullingImage,
            Creating,
            Starting,
            Healthchecking,
            Running,
            Exited,
            Stopping,
            Stopped,
            Failed,
            Unknown,
        ] {
            for throttled in [No, Flapping, ImageMissing, ImagePullFailed] {
                let status = TaskStatus {
                    throttled,
                    ..TaskStatus::new(job.clone(), goal, state)
                };
                let json = serde_json::to_string(&status).unwrap();
                check::<TaskStatus, v1::TaskStatus>(&json, &json);
            }
        }
    }
    for status in ["UP", "DOWN"] {
        let json = format!(r#"{{"status":"{status}"}}"#);
        check::<HostStatus, v1::HostStatus>(&json, &json);
    }
    for status in ["OK", "JOB_ID_NOT_FOUND"] {
        let json = format!(r#"{{"events":[],"status":"{status}"}}"#);
        check::<TaskStatusEvents, v1::TaskStatusEvents>(&json, &json);
    }
}

#[test]
fn job_ids_read_from_parts_or_canonical_form() {
    let hash = "3f5c6e4aef30e1ab68931dbd66a83226410b87e9";
    let from = |name: &str, version: Option<&str>, hash: Option<&str>, canonical: &str| {
        JobId::try_from(v1::JobId {
            name: name.into(),
            version: version.map(Into::into),
            hash: hash.map(Into::into),
            canonical: canonical.into(),
        })
        .map_err(|e| e.to_string())
    };
    let full = JobId::full("a", "1", hash);
    assert_eq!(
        from("", None, None, &format!("a:1:{hash}")),
        Ok(full.clone())
    );
    assert_eq!(from("a", Some("1"), Some(hash), ""), Ok(full.clone()));
    assert_eq!(
        from("a", Some("1"), Some(hash), &format!("a:1:{hash}")),
        Ok(full.clone())
    );
    assert_eq!(from("", None, None, "a:1"), Ok(JobId::new("a", "1")));
    assert_eq!(
        v1::JobId::from(&full),
        v1::JobId {
            name: "a".into(),
            version: Some("1".into()),
            hash: Some(hash.into()),
            canonical: format!("a:1:{hash}"),
        }
    );
    // A name-only id (`JobId::from_str("a")`) keeps its missing version.
    let name_only: JobId = "a".parse().unwrap();
    assert_eq!(JobId::try_from(v1::JobId::from(&name_only)), Ok(name_only));

    for (name, version, canonical, error) in [
        (
            "",
            None,
            "",
            "job_id: empty job id (neither parts nor canonical)",
        ),
        ("", None, "a", "job_id.canonical: Invalid Job id: a"),
        (
            "",
            None,
            "a:1:h:x",
            "job_id.canonical: Invalid Job id: a:1:h:x",
        ),
        (
            "a:1",
            None,
            "",
            r#"job_id.name: malformed job id: "a:1" contains ':'"#,
        ),
        (
            "a",
            Some("1:2"),
            "",
            r#"job_id.version: malformed job id: "1:2" contains ':'"#,
        ),
        (
            "a",
            Some("1"),
            "a:2",
            r#"job_id.canonical: "a:2" disagrees with name, version and hash (a:1)"#,
        ),
    ] {
        assert_eq!(from(name, version, None, canonical), Err(error.to_string()));
    }
}

#[test]
fn sparse_messages_take_helios_defaults() {
    // What a client in another language sends when it sets only what it needs.
    let job = v1::Job {
        id: Some(v1::JobId {
            canonical: "web:1".into(),
            ..Default::default()
        }),
        image: Some("nginx".into()),
        ports: [(
            "http".to_string(),
            v1::PortMapping {
                internal_port: 80,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    };
    let mut expected = Job::new(JobId::new("web", "1"), "nginx");
    expected.ports.insert("http".into(), PortMapping::of(80));
    assert_eq!(Job::try_from(job.clone()), Ok(expected.clone()));

    let status = v1::TaskStatus {
        job: Some(job),
        goal: v1::Goal::Start.into(),
        state: v1::TaskState::Running.into(),
        ..Default::default()
    };
    assert_eq!(
        TaskStatus::try_from(status),
        Ok(TaskStatus::new(expected, Goal::Start, State::Running))
    );
}

/// The error of converting `p` to `M`, as text.
fn refusal<P, M: TryFrom<P, Error = ConvertError> + Debug>(p: P) -> String {
    M::try_from(p).unwrap_err().to_string()
}

#[test]
fn refusals_name_the_bad_field() {
    let id = JobId::new("a", "1");
    let deployment = v1::Deployment::from(Deployment::new(id.clone(), Goal::Start));
    let d = |f: fn(&mut v1::Deployment)| {
        let mut d = deployment.clone();
        f(&mut d);
        refusal::<_, Deployment>(d)
    };
    assert_eq!(d(|d| d.goal = 99), "deployment.goal: unknown enum value 99");
    assert_eq!(
        d(|d| d.goal = 0),
        "deployment.goal: no goal given (START, STOP or UNDEPLOY)"
    );
    assert_eq!(
        d(|d| d.job_id = None),
        "deployment.job_id: missing (required)"
    );

    let job = v1::Job::from(Job::new(id.clone(), "i"));
    let j = |f: fn(&mut v1::Job)| {
        let mut j = job.clone();
        f(&mut j);
        refusal::<_, Job>(j)
    };
    assert_eq!(
        j(|j| {
            let mut p = v1::PortMapping::from(PortMapping::of(80));
            p.ip = Some("localhost".into());
            j.ports.insert("http".into(), p);
        }),
        r#"job.ports["http"].ip: localhost is not a valid IP address."#
    );
    assert_eq!(
        j(|j| j.health_check = Some(v1::HealthCheck { kind: None })),
        "job.health_check.kind: no health check kind given (http, tcp or exec)"
    );
    assert_eq!(
        j(|j| j.expires_ms = Some(i64::MAX)),
        format!("job.expires_ms: {} is out of range", i64::MAX)
    );
    assert_eq!(
        j(|j| {
            j.id = Some(v1::JobId {
                canonical: "a".into(),
                ..Default::default()
            })
        }),
        "job.id.canonical: Invalid Job id: a"
    );
    assert_eq!(
        j(|j| {
            let sp = v1::ServicePorts {
                ports: [("p".to_string(), v1::ServicePortParameters::default())].into(),
                malformed: true,
            };
            j.registration.insert("s/tcp".into(), sp);
        }),
        r#"job.registration["s/tcp"].malformed: set on an entry that has ports"#
    );
    // `svc` is `svc/http`: two keys for one endpoint.
    let twice = j(|j| {
        let sp = v1::ServicePorts::from(ServicePorts::of(["p"]));
        j.registration.insert("svc".into(), sp.clone());
        j.registration.insert("svc/http".into(), sp);
    });
    assert!(
        twice.starts_with(r#"job.registration["svc"#)
            && twice.ends_with(": names svc/http, as another key does"),
        "{twice}"
    );

    let status = v1::TaskStatus::from(TaskStatus::new(
        Job::new(id.clone(), "i"),
        Goal::Start,
        State::Running,
    ));
    let t = |f: fn(&mut v1::TaskStatus)| {
        let mut t = status.clone();
        f(&mut t);
        refusal::<_, TaskStatus>(t)
    };
    assert_eq!(t(|t| t.state = 0), "task_status.state: no state given");
    assert_eq!(
        t(|t| t.throttled = 7),
        "task_status.throttled: unknown enum value 7"
    );
    assert_eq!(t(|t| t.job = None), "task_status.job: missing (required)");

    let host = v1::HostStatus {
        status: v1::HostState::Up.into(),
        ..Default::default()
    };
    let h = |f: &dyn Fn(&mut v1::HostStatus)| {
        let mut h = host.clone();
        f(&mut h);
        refusal::<_, HostStatus>(h)
    };
    assert_eq!(
        h(&|h| h.status = 0),
        "host_status.status: no host state given (UP or DOWN)"
    );
    assert_eq!(
        h(&|h| {
            h.jobs.insert("bad".into(), deployment.clone());
        }),
        r#"host_status.jobs["bad"]: Invalid Job id: bad"#
    );
    assert_eq!(
        h(&|h| {
            let mut s = status.clone();
            s.job.as_mut().unwrap().id.as_mut().unwrap().version = Some("1:2".into());
            h.statuses.insert("a:1".into(), s);
        }),
        r#"host_status.statuses["a:1"].job.id.version: malformed job id: "1:2" contains ':'"#
    );
    // `a:1:` is `a:1`, as in Helios's JSON (trailing separators are dropped).
    let twice = h(&|h| {
        h.statuses.insert("a:1".into(), status.clone());
        h.statuses.insert("a:1:".into(), status.clone());
    });
    assert!(
        twice.ends_with(": names a:1, as another key does"),
        "{twice}"
    );

    let events = v1::TaskStatusEvents {
        events: vec![
            v1::TaskStatusEvent {
                host: "h".into(),
                status: Some(status.clone()),
                timestamp: 1,
            },
            v1::TaskStatusEvent::default(),
        ],
        status: v1::TaskStatusEventsStatus::Ok.into(),
    };
    assert_eq!(
        refusal::<_, TaskStatusEvents>(events.clone()),
        "task_status_events.events[1].status: missing (required)"
    );
    assert_eq!(
        refusal::<_, TaskStatusEvents>(v1::TaskStatusEvents {
            events: vec![],
            status: 0,
        }),
        "task_status_events.status: no status given (OK or JOB_ID_NOT_FOUND)"
    );
    assert_eq!(
        refusal::<_, JobStatus>(v1::JobStatus::default()),
        "job_status.job: missing (required)"
    );
}

#[test]
fn an_empty_protocol_reads_as_tcp() {
    let p = v1::PortMapping {
        internal_port: 53,
        external_port: Some(5353),
        ..Default::default()
    };
    assert_eq!(
        PortMapping::try_from(p),
        Ok(PortMapping::with_external(53, 5353))
    );
}

#[test]
fn host_records_round_trip_and_need_a_state() {
    let full: HostStatus = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/host_status.full.json")).unwrap(),
    )
    .unwrap();
    let record = HostRecord {
        agent_id: "AGENT".into(),
        status: Status::Up,
        status_changed_ms: 1_234,
        labels: full.labels.clone(),
        environment: full.environment.clone(),
        host_info: full.host_info.clone(),
        agent_info: full.agent_info.clone(),
    };
    assert!(record.host_info.is_some() && record.agent_info.is_some());
    let message = v1::HostRecord::from(&record);
    let wire = v1::HostRecord::decode(message.encode_to_vec().as_slice()).unwrap();
    assert_eq!(HostRecord::try_from(wire), Ok(record.clone()));
    let down = HostRecord {
        status: Status::Down,
        host_info: None,
        agent_info: None,
        ..record
    };
    assert_eq!(HostRecord::try_from(v1::HostRecord::from(&down)), Ok(down));
    assert_eq!(
        refusal::<_, HostRecord>(v1::HostRecord::default()),
        "host_record.status: no host state given (UP or DOWN)"
    );
}

/// A job another language's client builds from typed fields, setting only what it needs,
/// hashes as the same job written in Helios's JSON: the master gives it the same id over
/// gRPC as over REST.
#[test]
fn a_typed_job_hashes_as_its_helios_json() {
    let typed = v1::Job {
        id: Some(v1::JobId {
            name: "web".into(),
            version: Some("1".into()),
            ..Default::default()
        }),
        image: Some("nginx:1.27".into()),
        command: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
        env: [("A", "1"), ("B", "2"), ("C", "")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        ports: [
            (
                "http".to_string(),
                v1::PortMapping {
                    internal_port: 80,
                    ..Default::default()
                },
            ),
            (
                "dns".to_string(),
                v1::PortMapping {
                    internal_port: 53,
                    external_port: Some(5353),
                    protocol: "udp".into(),
                    ..Default::default()
                },
            ),
        ]
        .into(),
        health_check: Some(v1::HealthCheck {
            kind: Some(v1::health_check::Kind::Tcp(v1::TcpHealthCheck {
                port: "http".into(),
            })),
        }),
        ..Default::default()
    };
    let json: Job = serde_json::from_value(serde_json::json!({
        "id": "web:1",
        "image": "nginx:1.27",
        "command": ["nginx", "-g", "daemon off;"],
        "env": {"A": "1", "B": "2", "C": ""},
        "ports": {
            "http": {"internalPort": 80},
            "dns": {"internalPort": 53, "externalPort": 5353, "protocol": "udp"}
        },
        "healthCheck": {"type": "tcp", "port": "http"}
    }))
    .unwrap();
    let typed = Job::try_from(typed).unwrap();
    assert_eq!(typed, json);
    assert_eq!(typed.canonical_json(), json.canonical_json());
    assert_eq!(typed.with_hash().id, json.with_hash().id);
}

#[test]
fn every_deployment_group_enum_value_round_trips() {
    use serde_json::json;
    for operator in ["EQUALS", "NOT_EQUALS"] {
        for reason in ["MANUAL", "HOSTS_CHANGED"] {
            let json = json!({"hostSelectors":[{"label":"a","operand":"b","operator":operator}],
                              "name":"g","rollingUpdateReason":reason})
            .to_string();
            check::<DeploymentGroup, v1::DeploymentGroup>(&json, &json);
        }
    }
    for operator in ["IN", "NOT_IN"] {
        let json = json!({"hostSelectors":[{"label":"a","operand":["b","c"],"operator":operator}],
                          "name":"g"})
        .to_string();
        check::<DeploymentGroup, v1::DeploymentGroup>(&json, &json);
    }
    for state in ["ROLLING_OUT", "FAILED", "DONE"] {
        let json = json!({"error": null, "state": state}).to_string();
        check::<DeploymentGroupStatus, v1::DeploymentGroupStatus>(&json, &json);
    }
    for status in ["ROLLING_OUT", "ACTIVE", "FAILED", "IDLE"] {
        let json = json!({"deploymentGroup":{"hostSelectors":[],"name":"g"},
                          "deploymentGroupStatus":null,"error":null,
                          "hostStatuses":[{"host":"h","jobId":"a:1","state":"EXITED"}],
                          "status":status})
        .to_string();
        check::<DeploymentGroupStatusResponse, v1::DeploymentGroupStatusResponse>(&json, &json);
    }
    for status in [
        CreateDeploymentGroupStatus::Created,
        CreateDeploymentGroupStatus::NotModified,
        CreateDeploymentGroupStatus::Conflict,
    ] {
        let message = v1::CreateDeploymentGroupStatus::from(status);
        assert_eq!(CreateDeploymentGroupStatus::try_from(message), Ok(status));
    }
    assert_eq!(
        CreateDeploymentGroupStatus::try_from(v1::CreateDeploymentGroupStatus::Unspecified)
            .unwrap_err()
            .to_string(),
        "create_deployment_group_status: no status given (CREATED, NOT_MODIFIED or CONFLICT)"
    );
}

/// Selectors parsed from Helios's grammar give the messages a client in another language
/// would build, and back.
#[test]
fn host_selectors_carry_their_operands_as_a_list() {
    let parsed: HostSelector = "dc in (lon, ams, lon)".parse().unwrap();
    let message = v1::HostSelector::from(&parsed);
    assert_eq!(
        message,
        v1::HostSelector {
            label: "dc".into(),
            operands: vec!["ams".into(), "lon".into()],
            operator: v1::HostSelectorOperator::In.into(),
        }
    );
    assert_eq!(HostSelector::try_from(message), Ok(parsed));
    let eq: HostSelector = "role!=web".parse().unwrap();
    assert_eq!(
        v1::HostSelector::from(&eq).operands,
        vec!["web".to_string()]
    );
    assert_eq!(HostSelector::try_from(v1::HostSelector::from(&eq)), Ok(eq));
    // An operand of the other shape than its operator takes (no selector string parses to
    // it) comes back in its operator's shape.
    let odd: HostSelector =
        serde_json::from_str(r#"{"label":"a","operand":["b"],"operator":"EQUALS"}"#).unwrap();
    assert_eq!(
        HostSelector::try_from(v1::HostSelector::from(&odd)),
        Ok("a=b".parse().unwrap())
    );
}

#[test]
fn deployment_group_refusals_name_the_bad_field() {
    let selector = |operator: v1::HostSelectorOperator, operands: &[&str]| v1::HostSelector {
        label: "role".into(),
        operands: operands.iter().map(|o| o.to_string()).collect(),
        operator: operator.into(),
    };
    let group = |selectors: Vec<v1::HostSelector>| v1::DeploymentGroup {
        name: "g".into(),
        host_selectors: selectors,
        ..Default::default()
    };
    use v1::HostSelectorOperator as Op;
    let ok = selector(Op::Equals, &["web"]);
    for (selector, error) in [
        (
            selector(Op::Unspecified, &["web"]),
            "deployment_group.host_selectors[1].operator: no operator given (EQUALS, \
             NOT_EQUALS, IN or NOT_IN)",
        ),
        (
            v1::HostSelector {
                operator: 9,
                ..ok.clone()
            },
            "deployment_group.host_selectors[1].operator: unknown enum value 9",
        ),
        (
            selector(Op::Equals, &["web", "db"]),
            "deployment_group.host_selectors[1].operands: EQUALS takes exactly one operand, \
             not 2",
        ),
        (
            selector(Op::NotEquals, &[]),
            "deployment_group.host_selectors[1].operands: NOT_EQUALS takes exactly one \
             operand, not 0",
        ),
    ] {
        assert_eq!(
            refusal::<_, DeploymentGroup>(group(vec![ok.clone(), selector])),
            error
        );
    }
    // IN and NOT_IN take any number of operands, none included (`dc in ()`).
    assert!(DeploymentGroup::try_from(group(vec![selector(Op::NotIn, &[])])).is_ok());

    let g = |f: fn(&mut v1::DeploymentGroup)| {
        let mut g = group(vec![ok.clone()]);
        f(&mut g);
        refusal::<_, DeploymentGroup>(g)
    };
    assert_eq!(
        g(|g| g.rolling_update_reason = Some(0)),
        "deployment_group.rolling_update_reason: no reason given (MANUAL or HOSTS_CHANGED); \
         leave the field out for none"
    );
    assert_eq!(
        g(|g| {
            g.job_id = Some(v1::JobId {
                canonical: "web".into(),
                ..Default::default()
            })
        }),
        "deployment_group.job_id.canonical: Invalid Job id: web"
    );

    assert_eq!(
        refusal::<_, DeploymentGroupStatus>(v1::DeploymentGroupStatus::default()),
        "deployment_group_status.state: no state given (ROLLING_OUT, FAILED or DONE)"
    );
    let response = v1::DeploymentGroupStatusResponse {
        deployment_group: Some(group(vec![ok.clone()])),
        status: v1::DeploymentGroupStatusResponseStatus::Idle.into(),
        ..Default::default()
    };
    assert!(DeploymentGroupStatusResponse::try_from(response.clone()).is_ok());
    let r = |f: fn(&mut v1::DeploymentGroupStatusResponse)| {
        let mut r = response.clone();
        f(&mut r);
        refusal::<_, DeploymentGroupStatusResponse>(r)
    };
    assert_eq!(
        r(|r| r.deployment_group = None),
        "deployment_group_status_response.deployment_group: missing (required)"
    );
    assert_eq!(
        r(|r| r.status = 0),
        "deployment_group_status_response.status: no status given (ROLLING_OUT, ACTIVE, \
         FAILED or IDLE)"
    );
    assert_eq!(
        r(|r| {
            r.host_statuses = vec![
                v1::DeploymentGroupHostStatus {
                    host: "h1".into(),
                    ..Default::default()
                },
                v1::DeploymentGroupHostStatus {
                    host: "h2".into(),
                    state: Some(0),
                    ..Default::default()
                },
            ]
        }),
        "deployment_group_status_response.host_statuses[1].state: no state given"
    );
    assert_eq!(
        r(|r| {
            r.deployment_group_status = Some(v1::DeploymentGroupStatus {
                error: None,
                state: 7,
            })
        }),
        "deployment_group_status_response.deployment_group_status.state: unknown enum value 7"
    );
}
