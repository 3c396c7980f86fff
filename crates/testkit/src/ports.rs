//! Free ports for master *processes*: the one place in the kit that guesses a port.
//!
//! A master process is told its ports on the command line, and must get the same ones again
//! when it restarts: the cluster's membership stores every member's address, and agents and
//! clients were given them. A killed master must also refuse connections, as a dead machine
//! would, so the kit cannot keep the socket bound on the master's behalf and hand it over.
//! So the kit binds port 0, reads the port the kernel chose, and closes the socket again; the
//! master binds it a moment later. Another process may take the port in between (rare on a
//! test machine: the kernel hands out ephemeral ports in turn).
//!
//! Masters in the test process itself need none of this: `in_process` binds port 0 and hands
//! the bound listeners to the master.

use std::net::TcpListener;

/// A free TCP port on 127.0.0.1 (the probing socket is closed again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `n` distinct free ports on 127.0.0.1 (see [`free_port`]).
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports
}
