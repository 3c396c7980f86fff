//! The masters' DNS server (issue 14), on `--dns-addr` (UDP and TCP) when given: SRV and A
//! records of the registered services of running tasks, and of the masters themselves
//! ([`records`]), answered by every master from its own applied state (a follower lags the
//! leader by milliseconds), with a short TTL so that a deploy, an undeploy or a failed task
//! shows within seconds. Built on hickory's server crate; the answers are a pure function
//! of the state, tested without a socket.

pub mod records;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use hickory_proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use openraft::async_runtime::WatchReceiver;

use crate::node::Node;
use records::{Answer, QueryType};

/// Seconds a resolver may cache an answer: short, since tasks come and go.
pub const TTL: u32 = 5;

/// How long a TCP client may stay silent before its connection is closed.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers DNS queries from a master's state.
pub struct DnsHandler {
    app: Node,
    /// `--dns-domain`: where jobs without a `registrationDomain` and the masters are.
    domain: String,
}

impl DnsHandler {
    /// The answer to one query, from this member's applied state and membership.
    fn lookup(&self, qname: &str, qtype: RecordType) -> records::Lookup {
        let qtype = match qtype {
            RecordType::SRV => QueryType::Srv,
            RecordType::A => QueryType::A,
            RecordType::AAAA => QueryType::Aaaa,
            RecordType::ANY => QueryType::Any,
            _ => QueryType::Other,
        };
        let masters: Vec<_> = {
            let metrics = self.app.raft.metrics();
            let m = metrics.borrow_watched();
            m.membership_config
                .membership()
                .nodes()
                .map(|(_, n)| n.clone())
                .collect()
        };
        self.app
            .read_local(|s| records::lookup(s, &masters, &self.domain, qname, qtype))
            .unwrap_or_default()
    }
}

/// One answer as a hickory record; `None` for a name that is not a DNS name.
fn record(answer: &Answer) -> Option<Record> {
    let (name, data) = match answer {
        Answer::Srv { name, target, port } => {
            let target = Name::from_ascii(format!("{target}.")).ok()?;
            (name, RData::SRV(SRV::new(0, 10, *port, target)))
        }
        Answer::Address { name, ip } => match ip {
            std::net::IpAddr::V4(v4) => (name, RData::A(A(*v4))),
            std::net::IpAddr::V6(v6) => (name, RData::AAAA(AAAA(*v6))),
        },
    };
    let name = Name::from_ascii(format!("{name}.")).ok()?;
    Some(Record::from_rdata(name, TTL, data))
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: hickory_server::net::runtime::Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let builder = MessageResponseBuilder::from_message_request(request);
        let Ok(info) = request.request_info() else {
            metadata.response_code = ResponseCode::FormErr;
            let response = builder.build_no_records(metadata);
            return sent(response_handle.send_response(response).await, metadata);
        };
        let qname = info.query.name().to_string();
        let lookup = self.lookup(&qname, info.query.query_type());
        metadata.authoritative = lookup.in_zone;
        metadata.response_code = if !lookup.in_zone {
            ResponseCode::Refused
        } else if lookup.exists {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        let answers: Vec<Record> = lookup.answers.iter().filter_map(record).collect();
        let additionals: Vec<Record> = lookup.additionals.iter().filter_map(record).collect();
        let response = builder.build(metadata, &answers, [], [], &additionals);
        sent(response_handle.send_response(response).await, metadata)
    }
}

/// What a sent (or failed) response says about itself.
fn sent(
    result: Result<ResponseInfo, hickory_server::net::NetError>,
    mut metadata: Metadata,
) -> ResponseInfo {
    result.unwrap_or_else(|e| {
        tracing::debug!("cannot send a DNS answer: {e}");
        metadata.response_code = ResponseCode::ServFail;
        ResponseInfo::from(Header {
            metadata,
            counts: HeaderCounts::default(),
        })
    })
}

/// The UDP socket and TCP listener of `--dns-addr`.
pub struct Sockets {
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
}

/// Binds `addr` for UDP and TCP, naming it in the error.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<Sockets> {
    let udp = tokio::net::UdpSocket::bind(addr)
        .await
        .with_context(|| format!("cannot listen on --dns-addr {addr} (UDP)"))?;
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on --dns-addr {addr} (TCP)"))?;
    Ok(Sockets { udp, tcp })
}

/// Serves DNS on `sockets` for `app` until `stop` flips.
pub async fn serve(
    app: Node,
    sockets: Sockets,
    domain: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Sockets { udp, tcp } = sockets;
    if let Ok(addr) = udp.local_addr() {
        tracing::info!(%addr, %domain, "serving DNS");
    }
    let mut server = Server::new(DnsHandler { app, domain });
    server.register_socket(udp);
    server.register_listener(tcp, TCP_TIMEOUT, 64);
    let _ = stop.wait_for(|s| *s).await;
    if let Err(e) = server.shutdown_gracefully().await {
        tracing::debug!("DNS server: {e}");
    }
}
