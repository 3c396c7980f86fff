//! Finding masters on the network: turns a configured cluster ([`TargetSpec`]) into the
//! endpoints the client can connect to (reference §6).
//!
//! * A domain is looked up as SRV `_<srvName>._https.<domain>` and, when that has no records,
//!   `_<srvName>._http.<domain>` (formats from `HELIOS_HTTPS_SRV_FORMAT` and
//!   `HELIOS_HTTP_SRV_FORMAT`); each answer becomes `https://host:port` or `http://host:port`.
//!   An error answer to the https name (REFUSED, SERVFAIL…) is treated like NXDOMAIN: the
//!   server is up, so the http name is asked next. A lookup nobody answered (timeout) is not
//!   followed by the http one, so a dead DNS server costs one lookup, not two. Nothing found
//!   is `Failed to resolve helios master in <domain> (srv: <srvName>)`.
//! * Every host name (an explicit endpoint's or an SRV target's) is resolved to all its
//!   addresses, and each address becomes an endpoint of its own, pinned to that address, so
//!   the client fails over between them. A name that does not resolve is kept as is; the
//!   connection attempt then reports the problem.
//!
//! SRV names and SRV targets' host names go to the `--dns-server` / `HELIOS_DNS_SERVER`
//! server when one is given, else to the system's resolvers; explicit endpoints' host names
//! always go through the system's resolver (`getaddrinfo`, with `/etc/hosts`). The DNS work
//! itself is `helios-discovery`'s.

use std::net::SocketAddr;

use helios_discovery::{DiscoveryError, SrvResolver, srv_name};
use reqwest::Url;
use tokio::sync::OnceCell;

use crate::target::{Endpoint, Target, TargetSpec};

/// Environment variable with the format of the https SRV name.
pub const HTTPS_SRV_FORMAT_ENV: &str = "HELIOS_HTTPS_SRV_FORMAT";
/// Environment variable with the format of the http SRV name.
pub const HTTP_SRV_FORMAT_ENV: &str = "HELIOS_HTTP_SRV_FORMAT";
/// Helios's default https SRV format: `_<srvName>._https.<domain>`.
pub const DEFAULT_HTTPS_SRV_FORMAT: &str = "_%s._https.%s";
/// Helios's default http SRV format: `_<srvName>._http.<domain>`.
pub const DEFAULT_HTTP_SRV_FORMAT: &str = "_%s._http.%s";

/// A cluster whose masters could not be found. `Display` is Helios's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Failed to resolve helios master in {label}")]
pub struct ResolveError {
    /// The cluster as messages name it: `<domain> (srv: <srvName>)`.
    pub label: String,
    /// Why, for `-v`: the DNS error, or the names that had no records.
    pub cause: String,
}

impl ResolveError {
    /// The message, with its cause when `verbose`.
    pub fn line(&self, verbose: u8) -> String {
        if verbose > 0 {
            format!("{self}: {}", self.cause)
        } else {
            self.to_string()
        }
    }
}

/// How clusters are looked up: the DNS server and the SRV name formats.
#[derive(Debug)]
pub struct Lookup {
    dns_server: Option<SocketAddr>,
    https_format: String,
    http_format: String,
    /// Built on first use, so commands with explicit endpoints never read resolv.conf.
    resolver: OnceCell<Result<SrvResolver, DiscoveryError>>,
}

impl Default for Lookup {
    fn default() -> Self {
        Lookup::new(None, None, None)
    }
}

impl Lookup {
    /// A lookup asking `dns_server` (else the system's resolvers), with the given SRV
    /// formats (else Helios's defaults).
    pub fn new(
        dns_server: Option<SocketAddr>,
        https_format: Option<String>,
        http_format: Option<String>,
    ) -> Lookup {
        Lookup {
            dns_server,
            https_format: https_format.unwrap_or_else(|| DEFAULT_HTTPS_SRV_FORMAT.to_string()),
            http_format: http_format.unwrap_or_else(|| DEFAULT_HTTP_SRV_FORMAT.to_string()),
            resolver: OnceCell::new(),
        }
    }

    /// [`Lookup::new`] with the formats from `HELIOS_HTTPS_SRV_FORMAT` and
    /// `HELIOS_HTTP_SRV_FORMAT` (unset or empty means Helios's default).
    pub fn from_env(dns_server: Option<SocketAddr>) -> Lookup {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Lookup::new(
            dns_server,
            var(HTTPS_SRV_FORMAT_ENV),
            var(HTTP_SRV_FORMAT_ENV),
        )
    }

    async fn resolver(&self) -> Result<&SrvResolver, DiscoveryError> {
        self.resolver
            .get_or_init(|| async { SrvResolver::new(self.dns_server) })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The endpoints of `spec`, every host name expanded to its addresses.
    pub async fn resolve(&self, spec: &TargetSpec) -> Result<Target, ResolveError> {
        match spec {
            TargetSpec::Endpoints(target) => {
                let mut endpoints = Vec::with_capacity(target.endpoints.len());
                for endpoint in &target.endpoints {
                    endpoints.extend(expand_with_system(endpoint).await);
                }
                Ok(Target {
                    name: target.name.clone(),
                    endpoints,
                })
            }
            TargetSpec::Domain { domain, srv_name } => {
                let fail = |cause: String| ResolveError {
                    label: spec.label(),
                    cause,
                };
                let resolver = self.resolver().await.map_err(|e| fail(e.to_string()))?;
                let urls = self
                    .srv_urls(resolver, srv_name, domain)
                    .await
                    .map_err(fail)?;
                let mut endpoints = Vec::with_capacity(urls.len());
                for url in urls {
                    endpoints.extend(expand_with(resolver, Endpoint::new(url)).await);
                }
                Ok(Target {
                    name: domain.clone(),
                    endpoints,
                })
            }
        }
    }

    /// The https SRV targets of the domain, else the http ones, as URLs.
    async fn srv_urls(
        &self,
        resolver: &SrvResolver,
        service: &str,
        domain: &str,
    ) -> Result<Vec<Url>, String> {
        let mut tried = Vec::new();
        // The https lookup's error answer, reported if the http name has nothing either.
        let mut https_error = None;
        for (scheme, format) in [("https", &self.https_format), ("http", &self.http_format)] {
            let name = srv_name(format, service, domain);
            let targets = match resolver.srv(&name).await {
                Ok(targets) => targets,
                Err(e @ DiscoveryError::ErrorAnswer { .. }) if scheme == "https" => {
                    https_error = Some(e.to_string());
                    tried.push(name);
                    continue;
                }
                Err(e) => return Err(e.to_string()),
            };
            let urls: Vec<Url> = targets
                .iter()
                .filter_map(|t| target_url(scheme, &t.host, t.port))
                .collect();
            if !urls.is_empty() {
                return Ok(urls);
            }
            tried.push(name);
        }
        let none = format!("no SRV records for {}", tried.join(" or "));
        Err(match https_error {
            Some(e) => format!("{e}; {none}"),
            None => none,
        })
    }
}

/// `scheme://host:port/`, or `None` for a host no URL can hold.
fn target_url(scheme: &str, host: &str, port: u16) -> Option<Url> {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Url::parse(&format!("{scheme}://{host}:{port}/")).ok()
}

/// The host of `endpoint` when it is a name (not an IP literal), with the endpoint's port.
fn host_and_port(endpoint: &Endpoint) -> Option<(String, u16)> {
    let host = endpoint.url.host_str()?;
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok();
    if literal {
        return None;
    }
    Some((host.to_string(), endpoint.url.port_or_known_default()?))
}

/// One endpoint per address of the endpoint's host, through the system's resolver.
async fn expand_with_system(endpoint: &Endpoint) -> Vec<Endpoint> {
    let Some((host, port)) = host_and_port(endpoint) else {
        return vec![endpoint.clone()];
    };
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addrs) => addrs.collect(),
        Err(_) => Vec::new(),
    };
    pinned(endpoint, addrs)
}

/// One endpoint per address of the endpoint's host, through `resolver`.
async fn expand_with(resolver: &SrvResolver, endpoint: Endpoint) -> Vec<Endpoint> {
    let Some((host, port)) = host_and_port(&endpoint) else {
        return vec![endpoint];
    };
    let addrs: Vec<SocketAddr> = resolver
        .ips(&host)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    pinned(&endpoint, addrs)
}

/// `endpoint` pinned to each distinct address, or unpinned when there is none.
fn pinned(endpoint: &Endpoint, addrs: Vec<SocketAddr>) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::with_capacity(addrs.len());
    for addr in addrs {
        if !out.iter().any(|e| e.addr == Some(addr)) {
            out.push(endpoint.pinned(addr));
        }
    }
    if out.is_empty() {
        out.push(endpoint.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::parse_endpoint;

    #[test]
    fn srv_targets_become_urls() {
        assert_eq!(
            target_url("https", "m1.example.com", 443).unwrap().as_str(),
            "https://m1.example.com/"
        );
        assert_eq!(
            target_url("http", "m1.example.com", 5801).unwrap().as_str(),
            "http://m1.example.com:5801/"
        );
        assert_eq!(
            target_url("http", "::1", 5801).unwrap().as_str(),
            "http://[::1]:5801/"
        );
        assert_eq!(target_url("http", "bad host", 1), None);
    }

    #[test]
    fn resolve_errors_read_like_helios() {
        let e = ResolveError {
            label: "nothing.test (srv: helios)".into(),
            cause: "no SRV records for _helios._https.nothing.test or _helios._http.nothing.test"
                .into(),
        };
        assert_eq!(
            e.line(0),
            "Failed to resolve helios master in nothing.test (srv: helios)"
        );
        assert!(e.line(1).ends_with(
            ": no SRV records for _helios._https.nothing.test or _helios._http.nothing.test"
        ));
    }

    #[tokio::test]
    async fn ip_endpoints_stay_and_names_expand() {
        let lookup = Lookup::default();
        let ip = parse_endpoint("http://127.0.0.1:5801").unwrap();
        let spec = TargetSpec::Endpoints(Target {
            name: "x".into(),
            endpoints: vec![ip.clone(), parse_endpoint("localhost:5802").unwrap()],
        });
        let target = lookup.resolve(&spec).await.unwrap();
        assert_eq!(target.name, "x");
        assert_eq!(target.endpoints[0], ip);
        // localhost has at least one address; each is pinned, with the URL kept.
        let rest = &target.endpoints[1..];
        assert!(!rest.is_empty());
        for e in rest {
            assert_eq!(e.as_str(), "http://localhost:5802/");
            let addr = e.addr.expect("pinned");
            assert!(addr.ip().is_loopback() && addr.port() == 5802, "{addr}");
        }
    }

    #[tokio::test]
    async fn unresolvable_names_are_kept_unpinned() {
        let e = parse_endpoint("http://no-such-host.invalid:5801").unwrap();
        assert_eq!(expand_with_system(&e).await, vec![e]);
    }

    #[test]
    fn duplicate_addresses_are_dropped() {
        let e = parse_endpoint("http://h:1").unwrap();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        let out = pinned(&e, vec![a, b, a]);
        assert_eq!(out.len(), 2);
        assert_eq!(pinned(&e, vec![]), vec![e]);
    }

    /// A DNS server on a loopback UDP port, written out by hand (the CLI does not depend on
    /// hickory's message types): a query for a name in `codes` gets that response code (2
    /// SERVFAIL, 5 REFUSED), an SRV query for `srv` gets one record `m1.x.test:5801`, and
    /// anything else NXDOMAIN.
    async fn responder(codes: Vec<(&'static str, u8)>, srv: &'static str) -> SocketAddr {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let encode = |name: &str| {
            let mut out = Vec::new();
            for label in name.split('.').filter(|l| !l.is_empty()) {
                out.push(label.len() as u8);
                out.extend_from_slice(label.as_bytes());
            }
            out.push(0);
            out
        };
        let srv_wire = encode(srv);
        let codes: Vec<(Vec<u8>, u8)> = codes.into_iter().map(|(n, c)| (encode(n), c)).collect();
        let target = encode("m1.x.test");
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let query = &buf[..n];
                // Question: the name's labels end with a zero byte, then type and class.
                let Some(end) = query[12..].iter().position(|b| *b == 0).map(|p| 12 + p + 1) else {
                    continue;
                };
                let Some(qtype) = query.get(end..end + 2) else {
                    continue;
                };
                let name = query[12..end].to_ascii_lowercase();
                let is_srv = qtype == [0, 33];
                let (rcode, answer) = match codes.iter().find(|(n, _)| *n == name) {
                    Some((_, code)) => (*code, None),
                    None if name == srv_wire && is_srv => (0, Some(())),
                    None => (3, None),
                };
                let mut reply = query[..2].to_vec();
                // QR and AA set, RD copied from the query; then the response code.
                reply.push(0x84 | (query[2] & 0x01));
                reply.push(rcode);
                reply.extend_from_slice(&[0, 1, 0, u8::from(answer.is_some()), 0, 0, 0, 0]);
                reply.extend_from_slice(&query[12..end + 4]);
                if answer.is_some() {
                    // Owner: a pointer to the question's name; SRV, IN, TTL 0.
                    reply.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 0]);
                    let rdlength = (6 + target.len()) as u16;
                    reply.extend_from_slice(&rdlength.to_be_bytes());
                    reply.extend_from_slice(&[0, 0, 0, 0]);
                    reply.extend_from_slice(&5801u16.to_be_bytes());
                    reply.extend_from_slice(&target);
                }
                let _ = socket.send_to(&reply, peer).await;
            }
        });
        addr
    }

    /// REFUSED or SERVFAIL for the https name goes on to the http name, as NXDOMAIN does;
    /// when the http name has nothing either, the cause names both.
    #[tokio::test]
    async fn an_error_answer_for_https_goes_on_to_http() {
        let spec = TargetSpec::Domain {
            domain: "x.test".into(),
            srv_name: "helios".into(),
        };
        for (code, words) in [(5, "Refused"), (2, "Server Failure"), (3, "")] {
            let server = responder(
                vec![("_helios._https.x.test", code)],
                "_helios._http.x.test",
            )
            .await;
            let lookup = Lookup::new(Some(server), None, None);
            let target = lookup.resolve(&spec).await.unwrap_or_else(|e| {
                panic!("rcode {code}: {}", e.line(1));
            });
            let urls: Vec<&str> = target.endpoints.iter().map(|e| e.as_str()).collect();
            assert_eq!(urls, ["http://m1.x.test:5801/"], "rcode {code}");

            let server = responder(vec![("_helios._https.x.test", code)], "none.test").await;
            let lookup = Lookup::new(Some(server), None, None);
            let err = lookup.resolve(&spec).await.unwrap_err();
            assert!(
                err.cause.contains(words)
                    && err.cause.ends_with(
                        "no SRV records for _helios._https.x.test or _helios._http.x.test"
                    ),
                "rcode {code}: {}",
                err.cause
            );
        }
    }

    #[tokio::test]
    async fn a_domain_without_records_fails_with_helios_s_message() {
        // A UDP socket that never answers: the lookup times out, and the domain fails.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let lookup = Lookup::new(Some(silent.local_addr().unwrap()), None, None);
        let spec = TargetSpec::Domain {
            domain: "nothing.test".into(),
            srv_name: "helios".into(),
        };
        let err = lookup.resolve(&spec).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "Failed to resolve helios master in nothing.test (srv: helios)"
        );
        assert!(
            err.cause.contains("_helios._https.nothing.test"),
            "{}",
            err.cause
        );
    }
}
