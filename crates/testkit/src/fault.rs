//! The fault hook: what can happen to one member of a [`Cluster`], applied in one place,
//! [`Cluster::inject`].
//!
//! Process faults work on any cluster. Network faults need each member on a host of its own
//! ([`Cluster::on_hosts`], network namespaces): there, isolation takes the host's link down,
//! and packet loss drops packets in the host's own firewall, both ways.

use crate::cluster::Cluster;

/// One fault, or its repair, for one member.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// SIGKILL: the process is gone, its ports refuse connections (a crashed machine).
    Kill,
    /// Starts a killed (or stopped) member again: the same flags, ports and data.
    Restart,
    /// SIGSTOP: the process stays, frozen, its sockets open (a paused VM, a long GC pause).
    Pause,
    /// SIGCONT after [`Fault::Pause`].
    Resume,
    /// Cuts the member's host off from every other host and from the test (its link down);
    /// the process runs on. Needs hosts.
    Isolate,
    /// Drops this percentage of the packets the member's host sends and receives. Needs hosts.
    Lossy(u8),
    /// Undoes [`Fault::Isolate`] and [`Fault::Lossy`]. Needs hosts.
    Heal,
}

impl Fault {
    /// Whether it acts on the network, and so needs each member on a host of its own.
    pub fn needs_hosts(self) -> bool {
        matches!(self, Fault::Isolate | Fault::Lossy(_) | Fault::Heal)
    }
}

impl Cluster {
    /// Applies `fault` to member `member` (0-based, as in [`Cluster::masters`] and the index
    /// [`Cluster::wait_leader`] returns). Panics when a network fault is asked of a cluster
    /// without hosts of its own; check [`Cluster::supports`] to skip instead.
    pub fn inject(&mut self, member: usize, fault: Fault) {
        assert!(
            self.supports(fault),
            "{fault:?} needs each member on a host of its own (Cluster::on_hosts)"
        );
        eprintln!("fault: {fault:?} on member {member}");
        let host = member + 1;
        match fault {
            Fault::Kill => self.masters[member].kill9(),
            Fault::Restart => self.masters[member].start(),
            Fault::Pause => self.masters[member].pause(),
            Fault::Resume => self.masters[member].resume(),
            Fault::Isolate => self.net().cut_off(host, true),
            Fault::Lossy(percent) => {
                let p = format!("{:.2}", f64::from(percent.min(100)) / 100.0);
                self.net().lossy(host, Some(&p));
            }
            Fault::Heal => {
                self.net().cut_off(host, false);
                self.net().lossy(host, None);
            }
        }
    }

    /// Whether [`Cluster::inject`] can apply `fault` to this cluster.
    pub fn supports(&self, fault: Fault) -> bool {
        !fault.needs_hosts() || self.hosts().is_some()
    }

    fn net(&self) -> &crate::netns::Hosts {
        self.hosts().expect("hosts of their own")
    }
}
