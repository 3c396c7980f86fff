//! Host-port allocation for jobs (Helios's `PortAllocator`, reference §4.3).
//!
//! The candidates of `--port-range` are shuffled once and walked round-robin, so a port
//! freed by one job is not handed straight to the next. A dynamic port must be unused by
//! every other execution of this agent and bindable right now; static ports are taken as
//! given, but a static port another execution uses fails the whole allocation. Allocations
//! are persisted by the caller and never recomputed for a job that has them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use helios_api::PortMapping;
use rand::seq::SliceRandom;

use crate::config::PortRange;

/// Hands out host ports from a range.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    /// The range's ports, shuffled once.
    candidates: Vec<u16>,
    /// Where the next search starts.
    cursor: usize,
}

impl PortAllocator {
    /// An allocator over `range`, in a random order.
    pub fn new(range: PortRange) -> PortAllocator {
        let mut candidates: Vec<u16> = (range.start..range.end).collect();
        candidates.shuffle(&mut rand::rng());
        PortAllocator {
            candidates,
            cursor: 0,
        }
    }

    /// Allocates the job's ports with the real bindability test; see
    /// [`PortAllocator::allocate_with`].
    pub fn allocate(
        &mut self,
        ports: &BTreeMap<String, PortMapping>,
        used: &BTreeSet<u16>,
    ) -> Option<BTreeMap<String, PortMapping>> {
        self.allocate_with(ports, used, port_is_bindable)
    }

    /// Returns the job's ports with every external port filled in, or `None` when a static
    /// port is in `used` or the range has no free port left. `is_free(port, protocol)` tells
    /// whether a port can be bound right now.
    pub fn allocate_with(
        &mut self,
        ports: &BTreeMap<String, PortMapping>,
        used: &BTreeSet<u16>,
        is_free: impl Fn(u16, &str) -> bool,
    ) -> Option<BTreeMap<String, PortMapping>> {
        let mut taken: BTreeSet<u16> = used.clone();
        let mut out = BTreeMap::new();
        // Static ports first, so that a dynamic one never takes a port named statically.
        for (name, mapping) in ports {
            if let Some(p) = mapping.external_port {
                let p = u16::try_from(p).ok()?;
                if used.contains(&p) {
                    return None;
                }
                taken.insert(p);
                out.insert(name.clone(), mapping.clone());
            }
        }
        for (name, mapping) in ports {
            if mapping.external_port.is_some() {
                continue;
            }
            let port = self.next_free(&taken, &mapping.protocol, &is_free)?;
            taken.insert(port);
            out.insert(
                name.clone(),
                mapping.with_external_port(Some(i32::from(port))),
            );
        }
        Some(out)
    }

    fn next_free(
        &mut self,
        taken: &BTreeSet<u16>,
        protocol: &str,
        is_free: &impl Fn(u16, &str) -> bool,
    ) -> Option<u16> {
        let n = self.candidates.len();
        for _ in 0..n {
            let port = self.candidates[self.cursor];
            self.cursor = (self.cursor + 1) % n;
            if !taken.contains(&port) && is_free(port, protocol) {
                return Some(port);
            }
        }
        None
    }
}

/// Whether `port` can be bound on all interfaces right now (TCP, or UDP for `udp`).
pub fn port_is_bindable(port: u16, protocol: &str) -> bool {
    if protocol.eq_ignore_ascii_case("udp") {
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
    } else {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u16, end: u16) -> PortRange {
        PortRange { start, end }
    }

    fn ports(list: &[(&str, PortMapping)]) -> BTreeMap<String, PortMapping> {
        list.iter()
            .map(|(n, p)| (n.to_string(), p.clone()))
            .collect()
    }

    #[test]
    fn dynamic_ports_come_from_the_range_and_skip_used_and_unbindable() {
        let mut a = PortAllocator::new(range(100, 104));
        let want = ports(&[("a", PortMapping::of(80)), ("b", PortMapping::of(81))]);
        let used = BTreeSet::from([100]);
        let got = a.allocate_with(&want, &used, |p, _| p != 101).unwrap();
        let mut ext: Vec<i32> = got.values().map(|m| m.external_port.unwrap()).collect();
        ext.sort();
        assert_eq!(ext, vec![102, 103]);
        assert_eq!(got["a"].internal_port, 80);
        // Everything taken: allocation fails.
        let used = BTreeSet::from([100, 102, 103]);
        assert!(a.allocate_with(&want, &used, |p, _| p != 101).is_none());
    }

    #[test]
    fn static_ports_are_kept_and_conflicts_fail() {
        let mut a = PortAllocator::new(range(100, 102));
        let want = ports(&[
            ("s", PortMapping::with_external(80, 101)),
            ("d", PortMapping::of(81)),
        ]);
        let got = a
            .allocate_with(&want, &BTreeSet::new(), |_, _| true)
            .unwrap();
        assert_eq!(got["s"].external_port, Some(101));
        assert_eq!(got["d"].external_port, Some(100));
        assert!(
            a.allocate_with(&want, &BTreeSet::from([101]), |_, _| true)
                .is_none()
        );
    }

    #[test]
    fn round_robin_does_not_reuse_the_last_port_at_once() {
        let mut a = PortAllocator::new(range(200, 210));
        let want = ports(&[("p", PortMapping::of(1))]);
        let first = a
            .allocate_with(&want, &BTreeSet::new(), |_, _| true)
            .unwrap();
        let second = a
            .allocate_with(&want, &BTreeSet::new(), |_, _| true)
            .unwrap();
        assert_ne!(first["p"].external_port, second["p"].external_port);
    }

    #[test]
    fn a_bound_port_is_not_bindable() {
        let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(!port_is_bindable(port, "tcp"));
        drop(l);
    }
}
