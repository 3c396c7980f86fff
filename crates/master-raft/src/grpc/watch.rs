//! `Watch`: the objects changed after an index, then every change as it is applied.
//!
//! Every stored object carries the Raft index that last changed it, so a replay is the
//! objects whose modify index is above `from_index`. Then the watch waits on the state
//! machine's applied-index notifications (no polling) and, after each, compares the state with
//! what it has sent: changed modify indexes are PUTs, vanished objects are DELETEs (the state
//! keeps no tombstones, so a deletion is seen by its absence). Notifications that arrive while
//! the client is slow coalesce into one comparison. Each comparison walks the watched part of
//! the state once, without allocating for unchanged objects.

use std::collections::HashMap;
use std::pin::Pin;

use helios_api::v1::{self, EventType, ObjectKind};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::error::status;
use crate::node::Node;
use crate::state::{Host, State, Versioned};
use helios_api::{Deployment, Job, TaskStatus};

/// The stream of a watch.
pub type WatchStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<v1::WatchResponse, Status>> + Send>>;

const KINDS: [ObjectKind; 4] = [
    ObjectKind::Job,
    ObjectKind::Host,
    ObjectKind::Deployment,
    ObjectKind::TaskStatus,
];

/// What a watch reports.
struct Filter {
    kinds: Vec<ObjectKind>,
    job: Option<String>,
    host: Option<String>,
}

impl Filter {
    fn new(req: &v1::WatchRequest) -> Result<Self, Status> {
        let mut kinds = Vec::new();
        for k in &req.kinds {
            match ObjectKind::try_from(*k) {
                Ok(ObjectKind::Unspecified) => {}
                Ok(kind) if !kinds.contains(&kind) => kinds.push(kind),
                Ok(_) => {}
                Err(_) => return Err(status("INVALID_KIND", format!("unknown object kind {k}"))),
            }
        }
        if kinds.is_empty() {
            kinds = KINDS.to_vec();
        }
        let job = Some(req.job_id.clone()).filter(|j| !j.is_empty());
        let host = Some(req.host.clone()).filter(|h| !h.is_empty());
        // A job filter excludes hosts, a host filter excludes jobs.
        kinds.retain(|k| {
            !(job.is_some() && *k == ObjectKind::Host || host.is_some() && *k == ObjectKind::Job)
        });
        Ok(Self { kinds, job, host })
    }
}

/// One stored object, borrowed from the state.
enum Obj<'a> {
    Job(&'a Versioned<Job>),
    Host(&'a Host),
    Deployment(&'a Versioned<Deployment>),
    Task(&'a Versioned<TaskStatus>),
}

impl Obj<'_> {
    fn indexes(&self) -> (u64, u64) {
        match self {
            Obj::Job(v) => (v.create_index, v.modify_index),
            Obj::Host(h) => (h.create_index, h.modify_index),
            Obj::Deployment(v) => (v.create_index, v.modify_index),
            Obj::Task(v) => (v.create_index, v.modify_index),
        }
    }
}

/// Calls `f(outer, inner, object)` for every watched object of `kind`: jobs are keyed
/// `(job, "")`, hosts `(host, "")`, deployments and task statuses `(host, job)`.
fn visit<'a>(
    s: &'a State,
    kind: ObjectKind,
    f: &Filter,
    mut each: impl FnMut(&'a str, &'a str, Obj<'a>),
) {
    let job_ok = |j: &str| f.job.as_deref().is_none_or(|w| w == j);
    let host_ok = |h: &str| f.host.as_deref().is_none_or(|w| w == h);
    match kind {
        ObjectKind::Job => match &f.job {
            Some(j) => {
                if let Some((k, v)) = s.jobs.get_key_value(j) {
                    each(k, "", Obj::Job(v));
                }
            }
            None => s.jobs.iter().for_each(|(k, v)| each(k, "", Obj::Job(v))),
        },
        ObjectKind::Host => s
            .hosts
            .iter()
            .filter(|(h, _)| host_ok(h))
            .for_each(|(h, v)| each(h, "", Obj::Host(v))),
        ObjectKind::Deployment => {
            for (h, jobs) in s.deployments.iter().filter(|(h, _)| host_ok(h)) {
                for (j, d) in jobs.iter().filter(|(j, _)| job_ok(j)) {
                    each(h, j, Obj::Deployment(d));
                }
            }
        }
        ObjectKind::TaskStatus => {
            for (h, tasks) in s.task_statuses.iter().filter(|(h, _)| host_ok(h)) {
                for (j, t) in tasks.iter().filter(|(j, _)| job_ok(j)) {
                    each(h, j, Obj::Task(t));
                }
            }
        }
        ObjectKind::Unspecified => {}
    }
}

fn exists(s: &State, kind: ObjectKind, outer: &str, inner: &str) -> bool {
    match kind {
        ObjectKind::Job => s.jobs.contains_key(outer),
        ObjectKind::Host => s.hosts.contains_key(outer),
        ObjectKind::Deployment => s
            .deployments
            .get(outer)
            .is_some_and(|d| d.contains_key(inner)),
        ObjectKind::TaskStatus => s
            .task_statuses
            .get(outer)
            .is_some_and(|d| d.contains_key(inner)),
        ObjectKind::Unspecified => false,
    }
}

/// `(job_id, host)` of a key.
fn key_fields(kind: ObjectKind, outer: &str, inner: &str) -> (String, String) {
    match kind {
        ObjectKind::Job => (outer.to_string(), String::new()),
        ObjectKind::Host => (String::new(), outer.to_string()),
        _ => (inner.to_string(), outer.to_string()),
    }
}

fn put_event(kind: ObjectKind, outer: &str, inner: &str, obj: &Obj<'_>) -> v1::WatchEvent {
    let (job_id, host) = key_fields(kind, outer, inner);
    let (create_index, index) = obj.indexes();
    let mut e = v1::WatchEvent {
        r#type: EventType::Put as i32,
        kind: kind as i32,
        job_id,
        host,
        index,
        create_index,
        ..Default::default()
    };
    let encoded = match obj {
        Obj::Job(v) => serde_json::to_string(&v.value),
        Obj::Host(h) => {
            let state = if h.up {
                helios_api::Status::Up
            } else {
                helios_api::Status::Down
            };
            e.host_state = v1::HostState::from(state) as i32;
            serde_json::to_string(&json!({
                "id": h.id,
                "status": state,
                "statusChangedMs": h.status_changed_ms,
                "labels": h.labels,
                "environment": h.env,
                "hostInfo": h.host_info,
                "agentInfo": h.agent_info,
            }))
        }
        Obj::Deployment(v) => {
            e.goal = v1::Goal::from(v.value.goal) as i32;
            serde_json::to_string(&v.value)
        }
        Obj::Task(v) => {
            e.goal = v1::Goal::from(v.value.goal) as i32;
            e.state = v1::TaskState::from(v.value.state) as i32;
            serde_json::to_string(&v.value)
        }
    };
    // These types always encode; an empty object would only hide a bug, not crash.
    e.json = encoded.unwrap_or_default();
    e
}

/// What the watch has sent: per kind, outer key → inner key → modify index.
#[derive(Default)]
struct Seen {
    tables: HashMap<i32, HashMap<String, HashMap<String, u64>>>,
    counts: HashMap<i32, usize>,
}

impl Seen {
    /// Compares the state with what was sent; appends PUTs for objects changed (or new) with
    /// a modify index above `above`, DELETEs (at `index`) for vanished ones.
    fn diff(
        &mut self,
        s: &State,
        f: &Filter,
        index: u64,
        above: u64,
        out: &mut Vec<v1::WatchEvent>,
    ) {
        for &kind in &f.kinds {
            let table = self.tables.entry(kind as i32).or_default();
            let count = self.counts.entry(kind as i32).or_default();
            let mut present = 0usize;
            visit(s, kind, f, |outer, inner, obj| {
                present += 1;
                let (_, modify) = obj.indexes();
                match table.get_mut(outer).and_then(|m| m.get_mut(inner)) {
                    Some(seen) if *seen == modify => return,
                    Some(seen) => *seen = modify,
                    None => {
                        table
                            .entry(outer.to_string())
                            .or_default()
                            .insert(inner.to_string(), modify);
                        *count += 1;
                    }
                }
                if modify > above {
                    out.push(put_event(kind, outer, inner, &obj));
                }
            });
            if *count > present {
                for (outer, inners) in table.iter_mut() {
                    inners.retain(|inner, _| {
                        let keep = exists(s, kind, outer, inner);
                        if !keep {
                            let (job_id, host) = key_fields(kind, outer, inner);
                            out.push(v1::WatchEvent {
                                r#type: EventType::Delete as i32,
                                kind: kind as i32,
                                job_id,
                                host,
                                index,
                                ..Default::default()
                            });
                        }
                        keep
                    });
                }
                table.retain(|_, inners| !inners.is_empty());
                *count = present;
            }
        }
        out.sort_by_key(|e| e.index);
    }

    fn live(&self) -> Vec<v1::ObjectRef> {
        let mut live = Vec::new();
        for kind in KINDS {
            let Some(table) = self.tables.get(&(kind as i32)) else {
                continue;
            };
            for (outer, inners) in table {
                for inner in inners.keys() {
                    let (job_id, host) = key_fields(kind, outer, inner);
                    live.push(v1::ObjectRef {
                        kind: kind as i32,
                        job_id,
                        host,
                    });
                }
            }
        }
        live
    }
}

/// Compares under the state lock; returns the applied index the comparison reflects.
fn compare(
    app: &Node,
    seen: &mut Seen,
    f: &Filter,
    above: Option<u64>,
    out: &mut Vec<v1::WatchEvent>,
) -> Result<u64, Status> {
    let view = app
        .shared
        .read()
        .map_err(|_| status("UNAVAILABLE", "state lock poisoned"))?;
    let index = view.last_applied.as_ref().map_or(0, |l| l.index);
    // After the replay, every change is above what was sent.
    seen.diff(&view.state, f, index, above.unwrap_or(0), out);
    Ok(index)
}

/// Sends one response unless the client is gone or the master stops; whether it was sent.
async fn send(
    tx: &mpsc::Sender<Result<v1::WatchResponse, Status>>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    item: Result<v1::WatchResponse, Status>,
) -> bool {
    tokio::select! {
        sent = tx.send(item) => sent.is_ok(),
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// Starts a watch; it ends when the client goes away or `stop` turns true.
pub fn start(
    app: Node,
    req: v1::WatchRequest,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<WatchStream, Status> {
    let filter = Filter::new(&req)?;
    let (tx, rx) = mpsc::channel::<Result<v1::WatchResponse, Status>>(16);
    app.tasks.clone().spawn(async move {
        let mut applied = app.applied.clone();
        // Seen before reading the state, so an entry applied after the read wakes us.
        applied.borrow_and_update();
        let mut seen = Seen::default();
        let mut events = Vec::new();
        let first =
            compare(&app, &mut seen, &filter, Some(req.from_index), &mut events).map(|index| {
                v1::WatchResponse {
                    index,
                    replay: true,
                    live: if req.from_index > 0 {
                        seen.live()
                    } else {
                        vec![]
                    },
                    events: std::mem::take(&mut events),
                }
            });
        let failed = first.is_err();
        if !send(&tx, &mut stop, first).await || failed {
            return;
        }
        loop {
            tokio::select! {
                changed = applied.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
                _ = stop.wait_for(|s| *s) => return,
            }
            applied.borrow_and_update();
            let batch = compare(&app, &mut seen, &filter, None, &mut events).map(|index| {
                v1::WatchResponse {
                    index,
                    replay: false,
                    live: vec![],
                    events: std::mem::take(&mut events),
                }
            });
            match batch {
                Ok(b) if b.events.is_empty() => continue,
                Ok(b) => {
                    if !send(&tx, &mut stop, Ok(b)).await {
                        return;
                    }
                }
                Err(e) => {
                    send(&tx, &mut stop, Err(e)).await;
                    return;
                }
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}
