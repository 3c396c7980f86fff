//! Which hosts' assignments the applied entries changed, told to those hosts' sessions only.
//!
//! A host's assignments are its deployments (with their jobs, which never change while
//! deployed). One task per master follows the applied index and, each time it moves, diffs
//! the deployments table against the one it saw before. The table is a persistent map, so
//! the two versions share every subtree no entry touched and the diff visits only what
//! changed: the cost is proportional to the changes, not to the hosts. Each changed host's
//! session is woken through its own watch channel, carrying the applied index. A session
//! therefore does no work for entries that do not concern its host, which at 10,000 hosts
//! is nearly all of them (before, every applied entry woke every session).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use imbl::ordmap::DiffItem;
use tokio::sync::watch;

use crate::node::Node;
use crate::state::Versioned;

/// The replicated deployments table (host → full job id → deployment).
type Deployments = imbl::OrdMap<String, BTreeMap<String, Versioned<helios_api::Deployment>>>;

/// The watch channels of the hosts with a session on this master.
#[derive(Default)]
pub struct HostChanges {
    hosts: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl HostChanges {
    /// Wakes whenever an applied entry changes `host`'s deployments. Subscribe before reading
    /// the host's complete set: a change applied in between then wakes the session too.
    pub fn subscribe(&self, host: &str) -> watch::Receiver<u64> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(host.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Called by a session that ends: forgets `host` unless another session follows it.
    pub fn unsubscribe(&self, host: &str) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        // The ending session still holds its receiver.
        if hosts.get(host).is_some_and(|tx| tx.receiver_count() <= 1) {
            hosts.remove(host);
        }
    }

    /// Wakes the sessions of `changed` hosts with `index`; forgets hosts with no session left.
    fn notify<'a>(&self, changed: impl Iterator<Item = &'a String>, index: u64) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        for host in changed {
            if let Some(tx) = hosts.get(host)
                && tx.send(index).is_err()
            {
                hosts.remove(host);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.hosts.lock().map(|h| h.is_empty()).unwrap_or(false)
    }

    /// The deployments table [`HostChanges::run`] starts from; read before any session can
    /// subscribe.
    pub fn start_from(app: &Node) -> Option<Deployments> {
        app.read_local(|s| s.deployments.clone()).ok()
    }

    /// Follows the applied index of `app` from `seen` until `stop` flips or the state machine
    /// goes away; then drops every channel, so that the sessions end (their agents connect
    /// again) instead of waiting for changes nobody reports.
    pub async fn run(&self, app: Node, seen: Option<Deployments>, stop: watch::Receiver<bool>) {
        if let Some(seen) = seen {
            self.follow(app, seen, stop).await;
        }
        self.hosts.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn follow(&self, app: Node, mut seen: Deployments, mut stop: watch::Receiver<bool>) {
        let mut applied = app.applied.clone();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                changed = applied.changed() => if changed.is_err() { return },
            }
            let Ok((index, now)) =
                app.read_local(|s| (*applied.borrow_and_update(), s.deployments.clone()))
            else {
                return;
            };
            if !self.is_empty() {
                let changed: Vec<&String> = seen
                    .diff(&now)
                    .map(|item| match item {
                        DiffItem::Add(host, _) | DiffItem::Remove(host, _) => host,
                        DiffItem::Update { new: (host, _), .. } => host,
                    })
                    .collect();
                self.notify(changed.into_iter(), index);
            }
            seen = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_only_the_hosts_named() {
        let changes = HostChanges::default();
        let mut a = changes.subscribe("a");
        let b = changes.subscribe("b");
        changes.notify([&"a".to_string()].into_iter(), 7);
        assert!(a.has_changed().unwrap());
        assert_eq!(*a.borrow_and_update(), 7);
        assert!(!b.has_changed().unwrap());
        drop(b);
        changes.notify([&"b".to_string()].into_iter(), 8);
        assert!(!changes.hosts.lock().unwrap().contains_key("b"));
        assert!(changes.hosts.lock().unwrap().contains_key("a"));
    }

    #[test]
    fn a_host_is_forgotten_when_its_last_session_ends() {
        let changes = HostChanges::default();
        let old = changes.subscribe("a");
        let new = changes.subscribe("a");
        // The old session ends while the new one follows the host: the channel stays.
        changes.unsubscribe("a");
        drop(old);
        assert!(changes.hosts.lock().unwrap().contains_key("a"));
        changes.unsubscribe("a");
        drop(new);
        assert!(changes.hosts.lock().unwrap().is_empty());
    }
}
