//! Hosts of their own for masters: one network namespace each, joined by a bridge in this
//! process's namespace, so that a test can cut one member off from every other (its link
//! down) or make it lose packets (iptables in its namespace), as a real network would.
//!
//! Needs root and iproute2; [`Hosts::create`] says why not otherwise, and the tests that use
//! it then skip. Everything is removed when the last clone of the value is dropped.
//!
//! Tests rarely call [`Hosts::cut_off`] and [`Hosts::lossy`] themselves: a cluster started
//! with [`crate::Cluster::on_hosts`] keeps a clone and applies [`crate::Fault::Isolate`],
//! [`crate::Fault::Lossy`] and [`crate::Fault::Heal`] to its members' hosts.

use std::process::Command;
use std::sync::Arc;

/// `n` namespaces `10.213.<net>.1` … `.n` on a bridge at `10.213.<net>.254`; clones share
/// them.
#[derive(Clone)]
pub struct Hosts {
    names: Arc<Names>,
    subnet: String,
}

/// The names of the namespaces, links and bridge; dropping the last clone removes them.
struct Names {
    prefix: String,
    n: usize,
}

impl Hosts {
    /// Creates the namespaces, their links and the bridge; `Err` says why it cannot.
    pub fn create(n: usize) -> Result<Hosts, String> {
        // SAFETY: geteuid(2) only reads the process's credentials.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let id = std::process::id() % 10_000;
        let hosts = Hosts {
            names: Arc::new(Names {
                prefix: format!("hx{id}"),
                n,
            }),
            subnet: format!("10.213.{}", id % 250),
        };
        let bridge = hosts.names.bridge();
        let mut steps: Vec<Vec<String>> = vec![
            words(&format!("ip link add {bridge} type bridge")),
            words(&format!("ip addr add {}.254/24 dev {bridge}", hosts.subnet)),
            words(&format!("ip link set {bridge} up")),
            // Docker sets the FORWARD policy to DROP, which bridged traffic meets when
            // br_netfilter is loaded.
            words(&format!(
                "iptables -w -I FORWARD -i {bridge} -o {bridge} -j ACCEPT"
            )),
        ];
        for i in 1..=n {
            let (ns, host_if) = (hosts.names.namespace(i), hosts.names.host_link(i));
            let inner = format!("{}i{i}", hosts.names.prefix);
            steps.extend([
                words(&format!("ip netns add {ns}")),
                words(&format!(
                    "ip link add {host_if} type veth peer name {inner}"
                )),
                words(&format!("ip link set {inner} netns {ns}")),
                words(&format!("ip link set {host_if} master {bridge} up")),
                words(&format!(
                    "ip netns exec {ns} ip addr add {} dev {inner}",
                    format_args!("{}/24", hosts.ip(i))
                )),
                words(&format!("ip netns exec {ns} ip link set {inner} up")),
                words(&format!("ip netns exec {ns} ip link set lo up")),
            ]);
        }
        for step in steps {
            run(&step)?;
        }
        Ok(hosts)
    }

    /// How many hosts there are (numbered from 1).
    pub fn len(&self) -> usize {
        self.names.n
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.n == 0
    }

    /// The address of host `i` (1-based).
    pub fn ip(&self, i: usize) -> String {
        format!("{}.{i}", self.subnet)
    }

    /// The command prefix that runs a program on host `i`.
    pub fn wrapper(&self, i: usize) -> Vec<String> {
        words(&format!("ip netns exec {}", self.names.namespace(i)))
    }

    /// Cuts host `i` off from every other host and from this process (`true`), or joins it
    /// again (`false`).
    pub fn cut_off(&self, i: usize, cut: bool) {
        let state = if cut { "down" } else { "up" };
        run(&words(&format!(
            "ip link set {} {state}",
            self.names.host_link(i)
        )))
        .expect("ip link set");
    }

    /// Makes host `i` drop this share of the packets it sends and receives (`None`: none).
    pub fn lossy(&self, i: usize, probability: Option<&str>) {
        let ns = self.names.namespace(i);
        for chain in ["INPUT", "OUTPUT"] {
            let rule = |op: &str, p: &str| {
                words(&format!(
                    "ip netns exec {ns} iptables -w {op} {chain} -m statistic --mode random \
                     --probability {p} -j DROP"
                ))
            };
            match probability {
                Some(p) => run(&rule("-I", p)).expect("iptables -I"),
                None => {
                    // Removes whatever rule is first in the chain (the one inserted above).
                    run(&words(&format!(
                        "ip netns exec {ns} iptables -w -F {chain}"
                    )))
                    .expect("iptables -F");
                }
            }
        }
    }
}

impl Names {
    fn namespace(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix)
    }

    fn host_link(&self, i: usize) -> String {
        format!("{}h{i}", self.prefix)
    }

    fn bridge(&self) -> String {
        format!("{}b", self.prefix)
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        for i in 1..=self.n {
            let _ = run(&words(&format!("ip netns del {}", self.namespace(i))));
            let _ = run(&words(&format!("ip link del {}", self.host_link(i))));
        }
        let bridge = self.bridge();
        let _ = run(&words(&format!(
            "iptables -w -D FORWARD -i {bridge} -o {bridge} -j ACCEPT"
        )));
        let _ = run(&words(&format!("ip link del {bridge}")));
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn run(argv: &[String]) -> Result<(), String> {
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("{}: {e}", argv.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
