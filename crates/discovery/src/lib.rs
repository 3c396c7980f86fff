//! `helios-discovery`: finds Helios masters through DNS SRV records, for the CLI (`-d DOMAIN`,
//! reference §6) and the agent (`--domain`).
//!
//! It turns a record name such as `_helios._http.example.com` into `(host, port)` targets in
//! the order RFC 2782 asks for (lowest priority first, then a weighted random order within a
//! priority), and resolves host names to addresses through the same nameservers. Nameservers
//! are the system's (`/etc/resolv.conf`) unless an explicit `HOST:PORT` is given (the
//! `--dns-server` flags and [`DNS_SERVER_ENV`]), which is how tests point it to a local
//! dnsmasq. Timeouts are short ([`QUERY_TIMEOUT`], [`LOOKUP_DEADLINE`]) so that a dead DNS
//! server fails a command fast instead of hanging it.
//!
//! The DNS protocol itself is hickory-resolver's; this crate only configures it, names the
//! records, orders the answers and maps errors. It knows nothing of HTTP, URLs or masters'
//! APIs: what the targets mean is the caller's business.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// Environment variable naming a DNS server `HOST:PORT` to use instead of the system's
/// (the `--dns-server` flags of `helios` and `helios-agent` win over it).
pub const DNS_SERVER_ENV: &str = "HELIOS_DNS_SERVER";

/// How long one DNS query may take before it counts as lost.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Queries sent per lookup before giving up (hickory counts retries after the first).
pub const QUERY_ATTEMPTS: usize = 2;

/// Hard limit on one lookup, whatever the nameserver list and search domains make the
/// resolver do.
pub const LOOKUP_DEADLINE: Duration = Duration::from_secs(5);

/// Cached answers are kept at most this long, so a long-lived caller (the agent) sees a
/// changed record within a minute, as Helios's periodic resolver does.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(60);

/// Port used when a DNS server is given without one.
pub const DNS_PORT: u16 = 53;

/// Why a lookup could not be done. "No such record" is not an error: lookups return an empty
/// list for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// A `--dns-server` value that is not `HOST[:PORT]`.
    #[error("Invalid DNS server {0} (expected HOST:PORT)")]
    BadServer(String),
    /// The system's resolver configuration could not be read.
    #[error("Cannot read the system's DNS configuration: {0}")]
    SystemConfig(String),
    /// A name that is not a valid DNS name.
    #[error("Invalid DNS name {name}: {detail}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A nameserver answered the query with an error code (REFUSED, SERVFAIL, …): it is up,
    /// so another name (such as `_http` after `_https`) may still be worth asking for.
    #[error("DNS lookup of {name} failed: {detail}")]
    ErrorAnswer {
        /// The name that was looked up.
        name: String,
        /// The response code, as the resolver words it.
        detail: String,
    },
    /// The nameservers did not answer (timeout, connection refused, I/O error…).
    #[error("DNS lookup of {name} failed: {detail}")]
    Lookup {
        /// The name that was looked up.
        name: String,
        /// The resolver's explanation.
        detail: String,
    },
}

/// One SRV answer: where a service listens, with its RFC 2782 selection fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SrvTarget {
    /// Target host name without the trailing dot (e.g. `master1.example.com`).
    pub host: String,
    /// Target port.
    pub port: u16,
    /// Lower is preferred.
    pub priority: u16,
    /// Relative share among targets of the same priority.
    pub weight: u16,
}

/// Parses a DNS server given as `IP:PORT`, `[IPv6]:PORT`, a bare IP (port 53) or
/// `hostname:PORT` (resolved once through the system resolver).
pub fn parse_dns_server(raw: &str) -> Result<SocketAddr, DiscoveryError> {
    let s = raw.trim();
    let bad = || DiscoveryError::BadServer(raw.to_string());
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DNS_PORT));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => s
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Fills a Helios SRV format (`_%s._https.%s`, as Java's `String.format`): the first `%s`
/// becomes `service`, the second `domain`; `%%` is a literal `%`.
pub fn srv_name(format: &str, service: &str, domain: &str) -> String {
    let mut out = String::with_capacity(format.len() + service.len() + domain.len());
    let mut args = [service, domain].into_iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('%', Some('s')) => {
                chars.next();
                out.push_str(args.next().unwrap_or(""));
            }
            ('%', Some('%')) => {
                chars.next();
                out.push('%');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Orders SRV answers as RFC 2782 says: ascending priority; within one priority a weighted
/// random order (a target's chance to come next is proportional to its weight; targets that
/// all weigh 0 are shuffled uniformly). `pick(max)` must return a number in `0..=max`; it is
/// the only source of randomness, so tests can pass a fixed one.
pub fn order_targets(
    mut targets: Vec<SrvTarget>,
    pick: &mut impl FnMut(u32) -> u32,
) -> Vec<SrvTarget> {
    // Zero weights first within a priority, as the RFC's algorithm requires.
    targets.sort_by_key(|t| (t.priority, t.weight != 0));
    let mut ordered = Vec::with_capacity(targets.len());
    let mut rest = targets.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut group = vec![first];
        while let Some(next) = rest.next_if(|t| t.priority == group[0].priority) {
            group.push(next);
        }
        while !group.is_empty() {
            let total: u32 = group.iter().map(|t| u32::from(t.weight)).sum();
            let index = if total == 0 {
                let n = u32::try_from(group.len() - 1).unwrap_or(u32::MAX);
                usize::try_from(pick(n).min(n)).unwrap_or(0)
            } else {
                let r = pick(total).min(total);
                let mut running = 0u32;
                group
                    .iter()
                    .position(|t| {
                        running += u32::from(t.weight);
                        running >= r
                    })
                    .unwrap_or(group.len() - 1)
            };
            ordered.push(group.remove(index));
        }
    }
    ordered
}

/// A DNS resolver for master lookup: the system's nameservers or one explicit server.
#[derive(Clone)]
pub struct SrvResolver {
    inner: TokioResolver,
    server: Option<SocketAddr>,
}

impl std::fmt::Debug for SrvResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrvResolver")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SrvResolver {
    /// A resolver that asks `server`, or the system's nameservers when `None`.
    /// Must be called inside a Tokio runtime only when lookups are made; building it does no
    /// I/O except reading `/etc/resolv.conf` for the system configuration.
    pub fn new(server: Option<SocketAddr>) -> Result<SrvResolver, DiscoveryError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut ns.connections {
                    connection.port = addr.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], vec![ns]),
                    provider,
                )
            }
            None => Resolver::builder(provider)
                .map_err(|e| DiscoveryError::SystemConfig(e.to_string()))?,
        };
        let options = builder.options_mut();
        options.timeout = QUERY_TIMEOUT;
        options.attempts = QUERY_ATTEMPTS.saturating_sub(1);
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        options.positive_max_ttl = Some(MAX_CACHE_TTL);
        options.negative_max_ttl = Some(Duration::ZERO);
        let inner = builder
            .build()
            .map_err(|e| DiscoveryError::SystemConfig(e.to_string()))?;
        Ok(SrvResolver { inner, server })
    }

    /// The explicit server this resolver asks, if any.
    pub fn server(&self) -> Option<SocketAddr> {
        self.server
    }

    /// Looks up the SRV records of `name` (taken as fully qualified) and returns their
    /// targets in RFC 2782 order. No such name, no SRV record, or only the "service not
    /// available" target `.` give an empty list.
    pub async fn srv(&self, name: &str) -> Result<Vec<SrvTarget>, DiscoveryError> {
        let fqdn = fully_qualified(name);
        let lookup = tokio::time::timeout(LOOKUP_DEADLINE, self.inner.srv_lookup(fqdn.as_str()))
            .await
            .map_err(|_| DiscoveryError::Lookup {
                name: name.to_string(),
                detail: "timed out".to_string(),
            })?;
        let lookup = match lookup {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(e) => return Err(lookup_error(name, &e)),
        };
        let targets: Vec<SrvTarget> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => {
                    let host = srv.target.to_string();
                    let host = host.trim_end_matches('.').to_string();
                    (!host.is_empty()).then_some(SrvTarget {
                        host,
                        port: srv.port,
                        priority: srv.priority,
                        weight: srv.weight,
                    })
                }
                _ => None,
            })
            .collect();
        let mut rng = rand::rng();
        Ok(order_targets(targets, &mut |max| {
            rand::Rng::random_range(&mut rng, 0..=max)
        }))
    }

    /// Every address of `host` (IPv4 and IPv6; an IP literal is returned as is), through the
    /// hosts file and then this resolver's nameservers. An unknown name gives an empty list.
    pub async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DiscoveryError> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
            return Ok(vec![ip]);
        }
        let lookup = tokio::time::timeout(LOOKUP_DEADLINE, self.inner.lookup_ip(host))
            .await
            .map_err(|_| DiscoveryError::Lookup {
                name: host.to_string(),
                detail: "timed out".to_string(),
            })?;
        match lookup {
            Ok(ips) => {
                let mut out: Vec<IpAddr> = Vec::new();
                for ip in ips.iter() {
                    if !out.contains(&ip) {
                        out.push(ip);
                    }
                }
                Ok(out)
            }
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(lookup_error(host, &e)),
        }
    }
}

/// `name` with a trailing dot, so that no search domain is appended to it.
fn fully_qualified(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn lookup_error(name: &str, e: &NetError) -> DiscoveryError {
    match e {
        NetError::Proto(p) => DiscoveryError::BadName {
            name: name.to_string(),
            detail: p.to_string(),
        },
        NetError::Dns(DnsError::ResponseCode(_)) => DiscoveryError::ErrorAnswer {
            name: name.to_string(),
            detail: e.to_string(),
        },
        other => DiscoveryError::Lookup {
            name: name.to_string(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, priority: u16, weight: u16) -> SrvTarget {
        SrvTarget {
            host: host.to_string(),
            port: 5801,
            priority,
            weight,
        }
    }

    fn hosts(targets: &[SrvTarget]) -> Vec<&str> {
        targets.iter().map(|t| t.host.as_str()).collect()
    }

    #[test]
    fn srv_names_follow_java_format() {
        assert_eq!(
            srv_name("_%s._https.%s", "helios", "example.com"),
            "_helios._https.example.com"
        );
        assert_eq!(srv_name("_%s._http.%s", "x", "d"), "_x._http.d");
        assert_eq!(srv_name("%s-100%%.%s", "a", "b"), "a-100%.b");
        // Missing arguments become empty; extra placeholders too.
        assert_eq!(srv_name("%s.%s.%s", "a", "b"), "a.b.");
        assert_eq!(srv_name("fixed", "a", "b"), "fixed");
    }

    #[test]
    fn dns_servers_parse() {
        assert_eq!(
            parse_dns_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("[::1]:53").unwrap(),
            "[::1]:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("10.0.0.2").unwrap(),
            "10.0.0.2:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("::1").unwrap(),
            "[::1]:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("localhost:5300").unwrap().port(),
            5300,
            "host names resolve once"
        );
        for bad in ["", "  ", "host", "host:0", "host:x", ":53", "1.2.3.4:99999"] {
            assert_eq!(
                parse_dns_server(bad).unwrap_err(),
                DiscoveryError::BadServer(bad.to_string()),
                "{bad:?}"
            );
        }
        assert_eq!(
            DiscoveryError::BadServer("x".into()).to_string(),
            "Invalid DNS server x (expected HOST:PORT)"
        );
    }

    #[test]
    fn lower_priority_always_comes_first() {
        let ordered = order_targets(
            vec![t("c", 20, 5), t("a", 10, 0), t("b", 10, 100), t("d", 30, 1)],
            &mut |max| max,
        );
        assert_eq!(hosts(&ordered)[3], "d");
        assert_eq!(hosts(&ordered)[2], "c");
        assert!(hosts(&ordered)[..2].contains(&"a") && hosts(&ordered)[..2].contains(&"b"));
    }

    #[test]
    fn weights_decide_within_a_priority() {
        // Zero weights first, the others in answer order: [z(0), b(30), a(10)]; running
        // sums 0, 30, 40.
        let targets = vec![t("b", 1, 30), t("z", 1, 0), t("a", 1, 10)];
        // r = 0 picks the first target of what is left each time.
        assert_eq!(
            hosts(&order_targets(targets.clone(), &mut |_| 0)),
            ["z", "b", "a"]
        );
        // r = total picks the last one each time.
        assert_eq!(
            hosts(&order_targets(targets.clone(), &mut |max| max)),
            ["a", "b", "z"]
        );
        // r = 11 falls in b's share (running sums 0 < 11 <= 30).
        let mut first = true;
        let ordered = order_targets(targets, &mut |max| {
            if std::mem::take(&mut first) { 11 } else { max }
        });
        assert_eq!(hosts(&ordered)[0], "b");
    }

    #[test]
    fn all_zero_weights_are_shuffled_uniformly() {
        let targets = vec![t("a", 0, 0), t("b", 0, 0), t("c", 0, 0)];
        // pick(max) with max = len-1 chooses the index directly.
        let mut picks = vec![2u32, 0, 0].into_iter();
        let ordered = order_targets(targets.clone(), &mut |_| picks.next().unwrap());
        assert_eq!(hosts(&ordered), ["c", "a", "b"]);
        // A pick beyond the range is clamped, never a panic.
        let ordered = order_targets(targets, &mut |_| 99);
        assert_eq!(hosts(&ordered), ["c", "b", "a"]);
    }

    #[test]
    fn ordering_keeps_every_target() {
        let targets: Vec<SrvTarget> = (0..20)
            .map(|i| t(&format!("h{i}"), (i % 3) as u16, (i * 7 % 5) as u16))
            .collect();
        let mut rng = rand::rng();
        let ordered = order_targets(targets.clone(), &mut |max| {
            rand::Rng::random_range(&mut rng, 0..=max)
        });
        assert_eq!(ordered.len(), targets.len());
        assert!(ordered.windows(2).all(|w| w[0].priority <= w[1].priority));
        for target in &targets {
            assert!(ordered.contains(target));
        }
        assert!(order_targets(Vec::new(), &mut |m| m).is_empty());
    }

    #[test]
    fn names_are_made_fully_qualified() {
        assert_eq!(fully_qualified("a.b"), "a.b.");
        assert_eq!(fully_qualified("a.b."), "a.b.");
    }

    #[tokio::test]
    async fn ip_literals_need_no_lookup() {
        // Port 9 (discard) on loopback: nothing answers DNS there, and nothing is asked.
        let resolver = SrvResolver::new(Some("127.0.0.1:9".parse().unwrap())).unwrap();
        assert_eq!(
            resolver.ips("10.1.2.3").await.unwrap(),
            vec!["10.1.2.3".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolver.ips("[::1]").await.unwrap(),
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(resolver.server(), Some("127.0.0.1:9".parse().unwrap()));
    }

    /// A tiny authoritative UDP responder for tests, built from hickory's message types:
    /// answers SRV and A queries from `records` (name → answers) and NXDOMAIN otherwise.
    async fn responder(records: Vec<(&'static str, Vec<RData>)>) -> SocketAddr {
        responder_with_codes(records, Vec::new()).await
    }

    /// Like [`responder`], answering the names in `codes` with that response code.
    async fn responder_with_codes(
        records: Vec<(&'static str, Vec<RData>)>,
        codes: Vec<(&'static str, hickory_resolver::proto::op::ResponseCode)>,
    ) -> SocketAddr {
        use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
        use hickory_resolver::proto::rr::{Name, Record};
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut reply = Message::response(query.metadata.id, OpCode::Query);
                reply.metadata.authoritative = true;
                reply.queries = query.queries.clone();
                let q = &query.queries[0];
                let name = q.name().to_string();
                if let Some((_, code)) = codes.iter().find(|(n, _)| *n == name) {
                    reply.metadata.response_code = *code;
                    let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
                    continue;
                }
                match records.iter().find(|(n, _)| *n == name) {
                    Some((_, answers)) => {
                        for data in answers {
                            if data.record_type() == q.query_type() {
                                let owner = Name::from_ascii(&name).unwrap();
                                reply.add_answer(Record::from_rdata(owner, 0, data.clone()));
                            }
                        }
                    }
                    None => reply.metadata.response_code = ResponseCode::NXDomain,
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        addr
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> RData {
        use hickory_resolver::proto::rr::{Name, rdata::SRV};
        RData::SRV(SRV::new(
            priority,
            weight,
            port,
            Name::from_ascii(target).unwrap(),
        ))
    }

    #[tokio::test]
    async fn srv_answers_from_an_explicit_server() {
        use hickory_resolver::proto::rr::rdata::A;
        let server = responder(vec![
            (
                "_helios._http.example.test.",
                vec![
                    srv(20, 0, 5811, "backup.example.test."),
                    srv(10, 5, 5801, "m1.example.test."),
                    srv(10, 5, 5802, "m2.example.test."),
                ],
            ),
            ("_none._http.example.test.", vec![srv(0, 0, 0, ".")]),
            (
                "m1.example.test.",
                vec![RData::A(A("127.0.0.7".parse().unwrap()))],
            ),
        ])
        .await;
        let resolver = SrvResolver::new(Some(server)).unwrap();
        let targets = resolver.srv("_helios._http.example.test").await.unwrap();
        assert_eq!(targets.len(), 3, "{targets:?}");
        let mut first_two: Vec<(&str, u16)> = targets[..2]
            .iter()
            .map(|t| (t.host.as_str(), t.port))
            .collect();
        first_two.sort();
        assert_eq!(
            first_two,
            [("m1.example.test", 5801), ("m2.example.test", 5802)]
        );
        assert_eq!(
            (
                targets[2].host.as_str(),
                targets[2].port,
                targets[2].priority
            ),
            ("backup.example.test", 5811, 20)
        );
        // NXDOMAIN and "service not available" are empty answers, not errors.
        assert!(
            resolver
                .srv("_x._http.example.test")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            resolver
                .srv("_none._http.example.test")
                .await
                .unwrap()
                .is_empty()
        );
        // Host names resolve through the same server.
        assert_eq!(
            resolver.ips("m1.example.test").await.unwrap(),
            vec!["127.0.0.7".parse::<IpAddr>().unwrap()]
        );
        assert!(resolver.ips("m9.example.test").await.unwrap().is_empty());
    }

    /// REFUSED and SERVFAIL are errors the server answered (the caller may ask for another
    /// name), kept apart from NXDOMAIN (an empty list) and from no answer at all.
    #[tokio::test]
    async fn error_answers_are_told_apart() {
        use hickory_resolver::proto::op::ResponseCode;
        let server = responder_with_codes(
            vec![],
            vec![
                ("_helios._https.refused.test.", ResponseCode::Refused),
                ("_helios._https.servfail.test.", ResponseCode::ServFail),
            ],
        )
        .await;
        let resolver = SrvResolver::new(Some(server)).unwrap();
        for (name, code) in [
            ("_helios._https.refused.test", "Refused"),
            ("_helios._https.servfail.test", "Server Failure"),
        ] {
            let err = resolver.srv(name).await.unwrap_err();
            assert!(
                matches!(&err, DiscoveryError::ErrorAnswer { name: n, detail }
                    if n == name && detail.contains(code)),
                "{err:?}"
            );
        }
        assert!(
            resolver
                .srv("_helios._https.other.test")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_dead_dns_server_fails_within_the_deadline() {
        // Bind a UDP socket and never answer: queries time out.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let resolver = SrvResolver::new(Some(silent.local_addr().unwrap())).unwrap();
        let err = resolver
            .srv("_helios._http.example.test")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DiscoveryError::Lookup { name, .. } if name == "_helios._http.example.test"),
            "{err}"
        );
    }
}
