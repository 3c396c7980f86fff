//! Free ports for master *processes*: the one place in the kit that guesses a port.
//!
//! A master process is told its ports on the command line, and must get the same ones again
//! when it restarts: the cluster's membership stores every member's address, and agents and
//! clients were given them. A killed master must also refuse connections, as a dead machine
//! would, so the kit cannot keep the socket bound on the master's behalf and hand it over.
//! So the kit picks a port below the kernel's ephemeral range (`ip_local_port_range`) and below
//! the agents' port ranges ([`MASTER_PORTS`]), checks that it can bind it, and closes the
//! socket again; the master binds it a moment later. No outgoing connection can take such a
//! port: a connection's local port comes from the ephemeral range. (A port the kernel chose
//! for the kit, inside that range, could be taken by any client's connection while its master
//! was down for a restart, and the master then failed to start with "Address already in
//! use".) Within one test process a port is handed out once.
//!
//! Masters in the test process itself need none of this: `in_process` binds port 0 and hands
//! the bound listeners to the master.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// Where master ports are picked: below the ephemeral range, and below the ranges the tests
/// give agents for containers' dynamic ports (24,000 and up; the agent's default starts at
/// 20,000), which a container's published port must find free.
const MASTER_PORTS: (u16, u16) = (10_000, 19_999);

/// Ports this process has handed out.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// The kernel's ephemeral port range (Linux's default when it cannot be read).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// A free TCP port on 127.0.0.1 that no outgoing connection can take (see the module's
/// documentation), never one this process handed out before.
pub fn free_port() -> u16 {
    let (low, _) = ephemeral_range();
    let (first, last) = (MASTER_PORTS.0, MASTER_PORTS.1.min(low.saturating_sub(1)));
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    if first < last {
        let span = u32::from(last - first) + 1;
        // Different test processes start at different places.
        let seed = std::process::id().wrapping_mul(2_654_435_761)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        for i in 0..span {
            let port = first + ((seed.wrapping_add(i.wrapping_mul(7919))) % span) as u16;
            if !handed.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                handed.insert(port);
                return port;
            }
        }
    }
    // No range below the ephemeral one: a port the kernel chooses.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    handed.insert(port);
    port
}

/// `n` distinct free ports on 127.0.0.1 (see [`free_port`]).
pub fn free_ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_bindable_distinct_and_below_the_ephemeral_range() {
        let (low, _) = ephemeral_range();
        let ports = free_ports(200);
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        for port in ports {
            assert!(port < low, "{port} is in the ephemeral range from {low}");
            TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
        }
    }
}
