//! A real authoritative DNS server on loopback (hickory-server over UDP and TCP)
//! serving a small test zone, with switches for NXDOMAIN and SERVFAIL and a
//! query counter (to observe the resolver's cache).

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, MX, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The zone's records, by lowercase FQDN and type.
#[derive(Default)]
pub struct Zone {
    records: HashMap<(String, RecordType), Vec<Record>>,
    servfail: HashSet<String>,
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

impl Zone {
    pub fn mx(&mut self, domain: &str, preference: u16, host: &str, ttl: u32) -> &mut Self {
        let rdata = RData::MX(MX::new(preference, Name::from_str(&fqdn(host)).unwrap()));
        self.add(domain, RecordType::MX, rdata, ttl)
    }

    pub fn null_mx(&mut self, domain: &str) -> &mut Self {
        self.add(
            domain,
            RecordType::MX,
            RData::MX(MX::new(0, Name::root())),
            300,
        )
    }

    pub fn a(&mut self, host: &str, ip: Ipv4Addr, ttl: u32) -> &mut Self {
        self.add(host, RecordType::A, RData::A(A(ip)), ttl)
    }

    pub fn servfail(&mut self, domain: &str) -> &mut Self {
        self.servfail.insert(fqdn(domain));
        self
    }

    fn add(&mut self, name: &str, ty: RecordType, rdata: RData, ttl: u32) -> &mut Self {
        let record = Record::from_rdata(Name::from_str(&fqdn(name)).unwrap(), ttl, rdata);
        self.records
            .entry((fqdn(name), ty))
            .or_default()
            .push(record);
        self
    }
}

struct Handler {
    zone: Arc<Mutex<Zone>>,
    soa: Record,
    queries: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.authoritative = true;
        let query = &request.queries.queries()[0];
        let name = query.name().to_string().to_ascii_lowercase();
        let (code, answers) = {
            let zone = self.zone.lock().unwrap();
            if zone.servfail.contains(&name) {
                (ResponseCode::ServFail, Vec::new())
            } else if let Some(recs) = zone.records.get(&(name.clone(), query.query_type())) {
                (ResponseCode::NoError, recs.clone())
            } else if zone.records.keys().any(|(n, _)| *n == name) {
                (ResponseCode::NoError, Vec::new())
            } else {
                (ResponseCode::NXDomain, Vec::new())
            }
        };
        meta.response_code = code;
        let builder = MessageResponseBuilder::from_message_request(request);
        let soa: Vec<&Record> = if answers.is_empty() && code != ResponseCode::ServFail {
            vec![&self.soa]
        } else {
            Vec::new()
        };
        let msg = builder.build(meta, answers.iter(), [], soa, []);
        match response.send_response(msg).await {
            Ok(info) => info,
            Err(_) => ResponseInfo::from(Header {
                metadata: meta,
                counts: HeaderCounts::default(),
            }),
        }
    }
}

/// A running DNS server; dropped with the test.
pub struct DnsServer {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicUsize>,
    _server: Server<Handler>,
}

/// A UDP socket on a kernel-chosen port and a TCP listener on the same port;
/// the TCP port may be taken already, so try a few UDP ports.
async fn bind_udp_and_tcp() -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = tokio::net::TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

impl DnsServer {
    pub async fn start(zone: Zone) -> DnsServer {
        let (udp, tcp) = bind_udp_and_tcp().await;
        let addr = udp.local_addr().unwrap();
        let soa = Record::from_rdata(
            Name::from_str("test.").unwrap(),
            60,
            RData::SOA(SOA::new(
                Name::from_str("ns.test.").unwrap(),
                Name::from_str("hostmaster.test.").unwrap(),
                1,
                3600,
                600,
                86400,
                1, // negative TTL: one second, so tests are not slowed by caching
            )),
        );
        let queries = Arc::new(AtomicUsize::new(0));
        let handler = Handler {
            zone: Arc::new(Mutex::new(zone)),
            soa,
            queries: queries.clone(),
        };
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 4096);
        DnsServer {
            addr,
            queries,
            _server: server,
        }
    }
}
