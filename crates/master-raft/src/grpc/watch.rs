//! `Watch`: the objects changed after an index, then every change as it is applied.
//!
//! Every stored object carries the Raft index that last changed it, so a replay is the
//! objects whose modify index is above `from_index`. Then the watch waits on the state
//! machine's applied-index notifications (no polling) and, after each, compares the state with
//! what it has sent: changed modify indexes are PUTs, vanished objects are DELETEs (the state
//! keeps no tombstones, so a deletion is seen by its absence). Notifications that arrive while
//! the client is slow coalesce into one comparison. Each comparison walks the watched part of
//! the state once, without allocating for unchanged objects.
//!
//! Each event carries its object as a typed message (`WatchEvent.object`), converted from the
//! model by `helios_api::convert`. A deployment group is reported as its status view (the
//! group, its rollout status and its hosts, as `control::deployment_groups::status_in` gives
//! `DeploymentGroupStatus`), built only when the group or its progress changed: its modify
//! index is the larger of the two. A master serves at most [`MAX_WATCHES`] watches at once.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use helios_api::convert::HostRecord;
use helios_api::v1::{self, EventType, ObjectKind, watch_event::Object};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::error::status;
use crate::control::deployment_groups::status_in;
use crate::node::Node;
use crate::state::{GroupProgress, Host, State, StoredJob, StoredStatus, Versioned};
use helios_api::{Deployment, DeploymentGroup};

/// The most watches one master serves at once; beyond it, `Watch` answers
/// `RESOURCE_EXHAUSTED` (`TOO_MANY_WATCHES`).
///
/// Why a bound: every open watch costs the master a task, a table of the modify index of each
/// object it watches (as large as the watched state), up to 16 unsent responses, and, after
/// every applied Raft entry, one walk of the watched state under the state's read lock, which
/// the state machine's writes wait behind. Watches that pile up (a client that leaks them, or
/// reconnects in a loop without closing the old stream) would grow memory without limit and
/// slow every apply down. Real consumers need a few watches each (a dashboard, a deployer, a
/// service-discovery bridge); 1024 leaves room for hundreds of them per master while keeping
/// the worst case (1024 walks per applied entry) bounded. A refused client retries later or at
/// another master: every member serves watches.
pub const MAX_WATCHES: usize = 1024;

/// How many watches a master serves at once: each watch holds a permit until its task ends
/// (the client went away, the master stops, or the stream failed).
#[derive(Clone)]
pub struct WatchLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl WatchLimit {
    /// A limit of `max` watches at once.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A permit for one more watch, or `RESOURCE_EXHAUSTED` (`TOO_MANY_WATCHES`) naming the
    /// limit when `max` watches are open.
    pub fn acquire(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            status(
                "TOO_MANY_WATCHES",
                format!(
                    "this master already serves its limit of {} watches at once \
                     (MAX_WATCHES); close unused watches, retry later or at another master",
                    self.max
                ),
            )
        })
    }

    /// The watches open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// The stream of a watch.
pub type WatchStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<v1::WatchResponse, Status>> + Send>>;

const KINDS: [ObjectKind; 5] = [
    ObjectKind::Job,
    ObjectKind::Host,
    ObjectKind::Deployment,
    ObjectKind::TaskStatus,
    ObjectKind::DeploymentGroup,
];

/// What a watch reports.
struct Filter {
    kinds: Vec<ObjectKind>,
    job: Option<String>,
    host: Option<String>,
    group: Option<String>,
}

/// Which key fields the objects of a kind have: `(job_id, host, deployment_group)`.
fn keyed_by(kind: ObjectKind) -> (bool, bool, bool) {
    match kind {
        ObjectKind::Job => (true, false, false),
        ObjectKind::Host => (false, true, false),
        ObjectKind::Deployment | ObjectKind::TaskStatus => (true, true, false),
        ObjectKind::DeploymentGroup => (false, false, true),
        ObjectKind::Unspecified => (false, false, false),
    }
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
        let group = Some(req.deployment_group.clone()).filter(|g| !g.is_empty());
        // A filter on a key field excludes the kinds without it: a job filter excludes hosts
        // and groups, a host filter jobs and groups, a group filter every other kind.
        kinds.retain(|k| {
            let (has_job, has_host, has_group) = keyed_by(*k);
            (job.is_none() || has_job)
                && (host.is_none() || has_host)
                && (group.is_none() || has_group)
        });
        Ok(Self {
            kinds,
            job,
            host,
            group,
        })
    }
}

/// One stored object, borrowed from the state.
enum Obj<'a> {
    Job(&'a Versioned<StoredJob>),
    Host(&'a Host),
    Deployment(&'a Versioned<Deployment>),
    /// A task status, and the state its job is read from.
    Task {
        state: &'a State,
        status: &'a Versioned<StoredStatus>,
    },
    /// A deployment group, its progress (absent until it is tracked), and the state its
    /// status view is built from.
    Group {
        state: &'a State,
        group: &'a Versioned<DeploymentGroup>,
        progress: Option<&'a GroupProgress>,
    },
}

impl Obj<'_> {
    fn indexes(&self) -> (u64, u64) {
        match self {
            Obj::Job(v) => (v.create_index, v.modify_index),
            Obj::Host(h) => (h.create_index, h.modify_index),
            Obj::Deployment(v) => (v.create_index, v.modify_index),
            Obj::Task { status, .. } => (status.create_index, status.modify_index),
            Obj::Group {
                group, progress, ..
            } => (
                group.create_index,
                group
                    .modify_index
                    .max(progress.map_or(0, |p| p.modify_index)),
            ),
        }
    }
}

/// Calls `f(outer, inner, object)` for every watched object of `kind`: jobs are keyed
/// `(job, "")`, hosts `(host, "")`, deployments and task statuses `(host, job)`, deployment
/// groups `(group, "")`.
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
                    each(
                        h,
                        j,
                        Obj::Task {
                            state: s,
                            status: t,
                        },
                    );
                }
            }
        }
        ObjectKind::DeploymentGroup => {
            let obj = |name: &str, group| Obj::Group {
                state: s,
                group,
                progress: s.group_progress(name),
            };
            match &f.group {
                Some(g) => {
                    if let Some((k, v)) = s.deployment_groups.get_key_value(g) {
                        each(k, "", obj(k, v));
                    }
                }
                None => s
                    .deployment_groups
                    .iter()
                    .for_each(|(k, v)| each(k, "", obj(k, v))),
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
        ObjectKind::DeploymentGroup => s.deployment_groups.contains_key(outer),
        ObjectKind::Unspecified => false,
    }
}

/// The key fields of an event or object reference.
#[derive(Default)]
struct Key {
    job_id: String,
    host: String,
    deployment_group: String,
}

/// The key fields of the object `(outer, inner)` of `kind`.
fn key_fields(kind: ObjectKind, outer: &str, inner: &str) -> Key {
    match kind {
        ObjectKind::Job => Key {
            job_id: outer.to_string(),
            ..Key::default()
        },
        ObjectKind::Host => Key {
            host: outer.to_string(),
            ..Key::default()
        },
        ObjectKind::DeploymentGroup => Key {
            deployment_group: outer.to_string(),
            ..Key::default()
        },
        _ => Key {
            job_id: inner.to_string(),
            host: outer.to_string(),
            ..Key::default()
        },
    }
}

fn put_event(kind: ObjectKind, outer: &str, inner: &str, obj: &Obj<'_>) -> v1::WatchEvent {
    let Key {
        job_id,
        host,
        deployment_group,
    } = key_fields(kind, outer, inner);
    let (create_index, index) = obj.indexes();
    let mut e = v1::WatchEvent {
        r#type: EventType::Put as i32,
        kind: kind as i32,
        job_id,
        host,
        deployment_group,
        index,
        create_index,
        ..Default::default()
    };
    e.object = match obj {
        Obj::Job(v) => Some(Object::Job((&v.value.job()).into())),
        Obj::Host(h) => {
            let record = host_record(h);
            e.host_state = v1::HostState::from(record.status) as i32;
            Some(Object::HostRecord(record.into()))
        }
        Obj::Deployment(v) => {
            e.goal = v1::Goal::from(v.value.goal) as i32;
            Some(Object::Deployment((&v.value).into()))
        }
        Obj::Task { state, status } => {
            e.goal = v1::Goal::from(status.value.goal) as i32;
            e.state = v1::TaskState::from(status.value.state) as i32;
            Some(Object::TaskStatus(
                state.task_status(inner, &status.value).into(),
            ))
        }
        // The group exists in `state` (it was visited there), so it has a status view.
        Obj::Group { state, .. } => {
            status_in(state, outer).map(|view| Object::DeploymentGroupStatus(view.into()))
        }
    };
    e
}

/// The record of a registered host, as a watch reports it.
fn host_record(h: &Host) -> HostRecord {
    let Host {
        id,
        labels,
        env,
        host_info,
        agent_info,
        up,
        status_changed_ms,
        create_index: _,
        modify_index: _,
        address: _,
    } = h;
    HostRecord {
        agent_id: id.clone(),
        status: if *up {
            helios_api::Status::Up
        } else {
            helios_api::Status::Down
        },
        status_changed_ms: *status_changed_ms,
        labels: labels.clone(),
        environment: env.clone(),
        host_info: host_info.clone(),
        agent_info: agent_info.clone(),
    }
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
                            let Key {
                                job_id,
                                host,
                                deployment_group,
                            } = key_fields(kind, outer, inner);
                            out.push(v1::WatchEvent {
                                r#type: EventType::Delete as i32,
                                kind: kind as i32,
                                job_id,
                                host,
                                deployment_group,
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
                    let Key {
                        job_id,
                        host,
                        deployment_group,
                    } = key_fields(kind, outer, inner);
                    live.push(v1::ObjectRef {
                        kind: kind as i32,
                        job_id,
                        host,
                        deployment_group,
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

/// Starts a watch; it ends when the client goes away or `stop` turns true. Its task holds
/// `permit` (see [`WatchLimit`]) until it ends.
pub fn start(
    app: Node,
    req: v1::WatchRequest,
    mut stop: tokio::sync::watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) -> Result<WatchStream, Status> {
    let filter = Filter::new(&req)?;
    let (tx, rx) = mpsc::channel::<Result<v1::WatchResponse, Status>>(16);
    app.tasks.clone().spawn(async move {
        let _permit = permit;
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

#[cfg(test)]
mod tests {
    use super::*;
    use helios_api::client::STATUS_METADATA;
    use tonic::Code;

    #[test]
    fn watches_beyond_the_limit_are_refused_until_one_ends() {
        let limit = WatchLimit::new(2);
        let a = limit.acquire().unwrap();
        let _b = limit.clone().acquire().unwrap();
        assert_eq!(limit.open(), 2);
        let e = limit.acquire().unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted);
        assert_eq!(
            e.metadata().get(STATUS_METADATA).unwrap(),
            "TOO_MANY_WATCHES"
        );
        assert!(
            e.message().contains("limit of 2 watches"),
            "{}",
            e.message()
        );
        drop(a);
        assert_eq!(limit.open(), 1);
        let _c = limit.acquire().unwrap();
    }

    #[test]
    fn host_events_carry_a_typed_host_record() {
        let mut h = Host::registered("AGENT", 3, 1_000);
        h.up = true;
        h.labels.insert("role".into(), "web".into());
        h.modify_index = 5;
        let e = put_event(ObjectKind::Host, "h1", "", &Obj::Host(&h));
        assert_eq!((e.host.as_str(), e.index, e.create_index), ("h1", 5, 3));
        assert_eq!(e.host_state(), v1::HostState::Up);
        let Some(Object::HostRecord(r)) = e.object else {
            panic!("a host record expected: {e:?}")
        };
        assert_eq!(r.agent_id, "AGENT");
        assert_eq!(r.status(), v1::HostState::Up);
        assert_eq!(r.status_changed_ms, 1_000);
        assert_eq!(r.labels["role"], "web");
    }

    fn filter(req: v1::WatchRequest) -> Vec<ObjectKind> {
        Filter::new(&req).unwrap().kinds
    }

    #[test]
    fn a_filter_on_a_key_field_keeps_the_kinds_keyed_by_it() {
        use ObjectKind::*;
        assert_eq!(filter(v1::WatchRequest::default()), KINDS.to_vec());
        let job = v1::WatchRequest {
            job_id: "a:1".into(),
            ..Default::default()
        };
        assert_eq!(filter(job), vec![Job, Deployment, TaskStatus]);
        let host = v1::WatchRequest {
            host: "h1".into(),
            ..Default::default()
        };
        assert_eq!(filter(host), vec![Host, Deployment, TaskStatus]);
        let group = v1::WatchRequest {
            deployment_group: "web".into(),
            ..Default::default()
        };
        assert_eq!(filter(group.clone()), vec![DeploymentGroup]);
        let groups_and_jobs = v1::WatchRequest {
            kinds: vec![Job as i32, DeploymentGroup as i32],
            ..group
        };
        assert_eq!(filter(groups_and_jobs), vec![DeploymentGroup]);
    }

    /// A state with group `web` (created at 3, changed at 4) and, when `progress_index` is
    /// given, its progress: stopped at that index.
    fn with_group(progress_index: Option<u64>) -> State {
        let mut s = State::default();
        let selectors = vec!["role=web".parse().unwrap()];
        let mut group = Versioned::new(3, DeploymentGroup::new("web", selectors));
        group.modify_index = 4;
        s.deployment_groups.insert("web".into(), group);
        if let Some(index) = progress_index {
            let progress = GroupProgress {
                status: Some(helios_api::DeploymentGroupStatus::failed(
                    helios_api::model::deployment_group::STOPPED_BY_USER,
                )),
                modify_index: index,
                ..GroupProgress::default()
            };
            s.group_progress.insert("web".into(), progress);
        }
        s
    }

    fn group_event(s: &State) -> v1::WatchEvent {
        let mut events = Vec::new();
        visit(
            s,
            ObjectKind::DeploymentGroup,
            &Filter::new(&v1::WatchRequest::default()).unwrap(),
            |outer, inner, obj| {
                events.push(put_event(ObjectKind::DeploymentGroup, outer, inner, &obj))
            },
        );
        let [e] = &events[..] else {
            panic!("one group expected: {events:?}")
        };
        e.clone()
    }

    #[test]
    fn group_events_carry_the_status_view_at_the_later_of_two_indexes() {
        let idle = group_event(&with_group(None));
        assert_eq!(
            (
                idle.deployment_group.as_str(),
                idle.index,
                idle.create_index
            ),
            ("web", 4, 3)
        );
        assert_eq!((idle.job_id.as_str(), idle.host.as_str()), ("", ""));
        let Some(Object::DeploymentGroupStatus(view)) = idle.object else {
            panic!("a group status expected: {idle:?}")
        };
        assert_eq!(view.status(), v1::DeploymentGroupStatusResponseStatus::Idle);
        assert_eq!(view.deployment_group.unwrap().name, "web");

        let stopped = group_event(&with_group(Some(9)));
        assert_eq!((stopped.index, stopped.create_index), (9, 3));
        let Some(Object::DeploymentGroupStatus(view)) = stopped.object else {
            panic!("a group status expected: {stopped:?}")
        };
        assert_eq!(
            view.status(),
            v1::DeploymentGroupStatusResponseStatus::Failed
        );
        assert_eq!(view.error.as_deref(), Some("Stopped by user"));
        // A progress older than the group's last change leaves the group's index.
        assert_eq!(group_event(&with_group(Some(2))).index, 4);
    }

    #[test]
    fn a_removed_group_is_a_delete_keyed_by_its_name() {
        let f = Filter::new(&v1::WatchRequest {
            kinds: vec![ObjectKind::DeploymentGroup as i32],
            ..Default::default()
        })
        .unwrap();
        let mut seen = Seen::default();
        let mut out = Vec::new();
        let mut s = with_group(Some(5));
        seen.diff(&s, &f, 5, 0, &mut out);
        assert_eq!(out.len(), 1);
        let live = seen.live();
        assert_eq!((live.len(), live[0].deployment_group.as_str()), (1, "web"));
        // Unchanged: nothing; changed: a PUT; gone: a DELETE at the comparison's index.
        out.clear();
        seen.diff(&s, &f, 6, 5, &mut out);
        assert!(out.is_empty(), "{out:?}");
        s.group_progress.get_mut("web").unwrap().modify_index = 7;
        seen.diff(&s, &f, 7, 5, &mut out);
        assert_eq!(
            (out.len(), out[0].r#type(), out[0].index),
            (1, EventType::Put, 7)
        );
        out.clear();
        s.deployment_groups.remove("web");
        s.group_progress.remove("web");
        seen.diff(&s, &f, 8, 7, &mut out);
        let [e] = &out[..] else {
            panic!("one delete expected: {out:?}")
        };
        assert_eq!(e.r#type(), EventType::Delete);
        assert_eq!(e.kind(), ObjectKind::DeploymentGroup);
        assert_eq!((e.deployment_group.as_str(), e.index), ("web", 8));
        assert!(e.object.is_none());
        assert!(seen.live().is_empty());
    }
}
