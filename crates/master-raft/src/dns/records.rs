//! What the masters' DNS answers, as a pure function of the replicated state and the members
//! (issue 14): for every RUNNING task of a job with `registration` entries, an SRV record
//! `_<service>._<protocol>.<domain>` → `<host>.<domain>:<external port>`, where `<domain>` is
//! the job's `registrationDomain`, else `--dns-domain`; an A (or AAAA) record for each such
//! host, from the address its agent's session came from; and `_helios._http.<--dns-domain>`
//! → every master's HTTP API, so that `helios -d <domain>` finds them.
//!
//! A task is listed only while RUNNING on a host that is UP: a job with a health check becomes
//! RUNNING only once a probe passed, an agent that stops a task reports STOPPING before its
//! grace period, so a task leaves DNS first, then waits, then stops (Helios's meaning of
//! `gracePeriod`), and the tasks of a host whose agent is gone leave with it. Service names
//! starting with `helios` are the masters' own (`_helios._http`, `_helios._https`,
//! `_helios-cluster._tcp`): no job's registration is published under them, so that a job
//! cannot pose as the masters to the CLI or to agents.

use std::collections::BTreeSet;
use std::net::IpAddr;

use helios_api::State as TaskState;

use crate::raft::types::MasterNode;
use crate::state::State;

/// The record types a query can ask for, as far as these answers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryType {
    /// SRV.
    Srv,
    /// A.
    A,
    /// AAAA.
    Aaaa,
    /// ANY: everything the name has.
    Any,
    /// Any other type: the name may exist, with no record of that type.
    Other,
}

/// One answer record (names are lowercase, without the final dot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// A service location.
    Srv {
        /// The queried name.
        name: String,
        /// Where: a host name, under the same domain.
        target: String,
        /// The port.
        port: u16,
    },
    /// An address of a name.
    Address {
        /// The name.
        name: String,
        /// Its address.
        ip: IpAddr,
    },
}

/// The answer to one query.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// Records of the queried name and type.
    pub answers: Vec<Answer>,
    /// Addresses of the SRV targets.
    pub additionals: Vec<Answer>,
    /// Whether the name is under a domain these masters answer for (else the query is
    /// refused); a name under one with no record is NXDOMAIN.
    pub in_zone: bool,
    /// Whether the name has records of any type.
    pub exists: bool,
}

/// `name` lowercased, without the final dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// One RUNNING registered task: its service name, protocol, domain, host and port.
struct Registered<'a> {
    service: String,
    protocol: String,
    domain: String,
    host: &'a str,
    port: u16,
}

/// Every registered endpoint of every RUNNING task.
fn registered<'a>(state: &'a State, default_domain: &str) -> Vec<Registered<'a>> {
    let mut out = Vec::new();
    for (host, tasks) in state.task_statuses.iter() {
        if !state.hosts.get(host).is_some_and(|h| h.up) {
            continue;
        }
        for (job_id, status) in tasks.iter().map(|(id, v)| (id, &v.value)) {
            if status.state != TaskState::Running {
                continue;
            }
            let Some(job) = state.jobs.get(job_id).map(|j| &j.value) else {
                continue;
            };
            if job.registration().is_empty() {
                continue;
            }
            let domain = match job.registration_domain().trim() {
                "" => default_domain.to_string(),
                d => normalize(d),
            };
            for (endpoint, ports) in job.registration() {
                if is_reserved(&endpoint.name) {
                    continue;
                }
                for port_name in ports.port_names() {
                    let external = status
                        .ports
                        .get(port_name)
                        .and_then(|p| p.external_port)
                        .and_then(|p| u16::try_from(p).ok());
                    if let Some(port) = external {
                        out.push(Registered {
                            service: endpoint.name.to_ascii_lowercase(),
                            protocol: endpoint.protocol.to_ascii_lowercase(),
                            domain: domain.clone(),
                            host: host.as_str(),
                            port,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Whether a service name is the masters' own (`helios…`), never a job's.
fn is_reserved(service: &str) -> bool {
    service.to_ascii_lowercase().starts_with("helios")
}

/// The answer to `qname` (any case, with or without the final dot) of type `qtype`.
pub fn lookup(
    state: &State,
    masters: &[MasterNode],
    default_domain: &str,
    qname: &str,
    qtype: QueryType,
) -> Lookup {
    let qname = normalize(qname);
    let default_domain = normalize(default_domain);
    let registered = registered(state, &default_domain);
    let domains: BTreeSet<&str> = registered
        .iter()
        .map(|r| r.domain.as_str())
        .chain(std::iter::once(default_domain.as_str()))
        .collect();
    let in_zone = domains
        .iter()
        .any(|d| qname == *d || qname.ends_with(&format!(".{d}")));
    let mut srv = Vec::new();
    let mut addresses = Vec::new();
    for r in &registered {
        let name = format!("_{}._{}.{}", r.service, r.protocol, r.domain);
        let target = format!("{}.{}", r.host.to_ascii_lowercase(), r.domain);
        if name == qname {
            srv.push(Answer::Srv {
                name,
                target: target.clone(),
                port: r.port,
            });
        }
        let ip = state
            .hosts
            .get(r.host)
            .and_then(|h| h.address.as_deref())
            .and_then(|a| a.parse::<IpAddr>().ok());
        if let Some(ip) = ip {
            addresses.push(Answer::Address { name: target, ip });
        }
    }
    let helios = format!("_helios._http.{default_domain}");
    for m in masters {
        let Some((host, port)) = m.http_addr.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        // A master named by address gets a name under the domain; one named by host name
        // is that name, which resolves as usual.
        let target = match host.parse::<IpAddr>() {
            Ok(ip) => {
                let target = format!("{}.{default_domain}", m.name.to_ascii_lowercase());
                addresses.push(Answer::Address {
                    name: target.clone(),
                    ip,
                });
                target
            }
            Err(_) => normalize(host),
        };
        if qname == helios {
            srv.push(Answer::Srv {
                name: helios.clone(),
                target,
                port,
            });
        }
    }
    srv.sort();
    srv.dedup();
    addresses.sort();
    addresses.dedup();
    let own: Vec<Answer> = addresses
        .iter()
        .filter(|a| matches!(a, Answer::Address { name, .. } if *name == qname))
        .cloned()
        .collect();
    let exists = !srv.is_empty() || !own.is_empty();
    let is_v4 = |a: &Answer| {
        matches!(
            a,
            Answer::Address {
                ip: IpAddr::V4(_),
                ..
            }
        )
    };
    let answers: Vec<Answer> = match qtype {
        QueryType::Srv => srv,
        QueryType::A => own.into_iter().filter(is_v4).collect(),
        QueryType::Aaaa => own.into_iter().filter(|a| !is_v4(a)).collect(),
        QueryType::Any => srv.into_iter().chain(own).collect(),
        QueryType::Other => Vec::new(),
    };
    let targets: BTreeSet<&str> = answers
        .iter()
        .filter_map(|a| match a {
            Answer::Srv { target, .. } => Some(target.as_str()),
            Answer::Address { .. } => None,
        })
        .collect();
    let additionals = addresses
        .iter()
        .filter(|a| matches!(a, Answer::Address { name, .. } if targets.contains(name.as_str())))
        .cloned()
        .collect();
    Lookup {
        answers,
        additionals,
        in_zone,
        exists,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use helios_api::{Goal, Job, JobId, PortMapping, ServiceEndpoint, ServicePorts, TaskStatus};

    use super::*;
    use crate::state::{Host, StoredJob, StoredStatus, Versioned};

    fn job(name: &str, domain: &str) -> Job {
        let mut ports = BTreeMap::new();
        ports.insert("http".to_string(), PortMapping::of(80));
        let mut registration = BTreeMap::new();
        registration.insert(
            ServiceEndpoint::new("svc", "http"),
            ServicePorts::of(["http"]),
        );
        Job {
            id: Some(JobId::new(name, "1")),
            image: Some("busybox".into()),
            ports,
            registration,
            registration_domain: domain.into(),
            ..Default::default()
        }
    }

    fn task(job: Job, state: TaskState, port: i32) -> Versioned<StoredStatus> {
        let mut status = TaskStatus::new(job, Goal::Start, state);
        let mut mapping = PortMapping::of(80);
        mapping.external_port = Some(port);
        status.ports.insert("http".into(), mapping);
        Versioned::new(1, status.into())
    }

    /// h1 runs `web` (port 20001), h2 runs it too (20002) and h3 still health-checks it;
    /// `other` registers the same service under `other.test` on h1.
    fn state() -> State {
        let mut s = State::default();
        for (h, ip, up) in [
            ("h1", "10.0.0.1", true),
            ("h2", "10.0.0.2", true),
            ("h3", "10.0.0.3", true),
            ("h4", "10.0.0.4", false),
        ] {
            let mut host = Host::registered(&format!("{h}-id"), 1, 0);
            host.address = Some(ip.into());
            host.up = up;
            s.hosts.insert(h.into(), host);
        }
        let web = job("web", "");
        let mut put = |h: &str, job: &Job, state, port| {
            let id = job.id.clone().unwrap().to_string();
            s.jobs
                .insert(id.clone(), Versioned::new(1, StoredJob::new(job)));
            s.task_statuses
                .entry(h.into())
                .or_default()
                .insert(id, task(job.clone(), state, port));
        };
        put("h1", &web, TaskState::Running, 20001);
        put("h2", &web, TaskState::Running, 20002);
        put("h3", &web, TaskState::Healthchecking, 20003);
        put(
            "h1",
            &job("other", "Other.Test."),
            TaskState::Running,
            20004,
        );
        // h4 is DOWN: its task is not listed.
        put("h4", &web, TaskState::Running, 20005);
        // A job cannot register as the masters.
        let mut impostor = job("impostor", "");
        impostor.registration = BTreeMap::from([(
            ServiceEndpoint::new("helios", "http"),
            ServicePorts::of(["http"]),
        )]);
        put("h2", &impostor, TaskState::Running, 20006);
        s
    }

    fn masters() -> Vec<MasterNode> {
        vec![
            MasterNode {
                name: "m1".into(),
                cluster_addr: "127.0.0.1:5802".into(),
                http_addr: "127.0.0.1:5801".into(),
            },
            MasterNode {
                name: "m2".into(),
                cluster_addr: "m2.example:5802".into(),
                http_addr: "m2.example:5801".into(),
            },
        ]
    }

    fn srv(name: &str, target: &str, port: u16) -> Answer {
        Answer::Srv {
            name: name.into(),
            target: target.into(),
            port,
        }
    }

    fn addr(name: &str, ip: &str) -> Answer {
        Answer::Address {
            name: name.into(),
            ip: ip.parse().unwrap(),
        }
    }

    #[test]
    fn srv_lists_the_running_tasks_with_their_hosts_addresses() {
        let s = state();
        let got = lookup(
            &s,
            &masters(),
            "Example.Test",
            "_SVC._http.example.test.",
            QueryType::Srv,
        );
        assert_eq!(
            got.answers,
            [
                srv("_svc._http.example.test", "h1.example.test", 20001),
                srv("_svc._http.example.test", "h2.example.test", 20002),
            ]
        );
        assert_eq!(
            got.additionals,
            [
                addr("h1.example.test", "10.0.0.1"),
                addr("h2.example.test", "10.0.0.2"),
            ]
        );
        let other = lookup(
            &s,
            &[],
            "example.test",
            "_svc._http.other.test",
            QueryType::Srv,
        );
        assert_eq!(
            other.answers,
            [srv("_svc._http.other.test", "h1.other.test", 20004)]
        );
        let a = lookup(&s, &[], "example.test", "h2.example.test", QueryType::A);
        assert_eq!(a.answers, [addr("h2.example.test", "10.0.0.2")]);
        // h3 is not RUNNING: no record, but the name is in the zone.
        let none = lookup(&s, &[], "example.test", "h3.example.test", QueryType::A);
        assert!(none.answers.is_empty() && none.in_zone && !none.exists);
        let outside = lookup(&s, &[], "example.test", "example.org", QueryType::A);
        assert!(!outside.in_zone);
    }

    #[test]
    fn jobs_cannot_pose_as_the_masters() {
        let name = "_helios._http.example.test";
        let got = lookup(&state(), &masters(), "example.test", name, QueryType::Srv);
        assert_eq!(got.answers.len(), 2, "{:?}", got.answers);
        let port = |a: &Answer| matches!(a, Answer::Srv { port: 5801, .. });
        assert!(got.answers.iter().all(port), "{:?}", got.answers);
    }

    #[test]
    fn the_masters_are_listed_under_helios_http() {
        let got = lookup(
            &State::default(),
            &masters(),
            "example.test",
            "_helios._http.example.test",
            QueryType::Srv,
        );
        assert_eq!(
            got.answers,
            [
                srv("_helios._http.example.test", "m1.example.test", 5801),
                srv("_helios._http.example.test", "m2.example", 5801),
            ]
        );
        assert_eq!(got.additionals, [addr("m1.example.test", "127.0.0.1")]);
    }
}
