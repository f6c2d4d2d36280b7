//! The doctor's DNS look: a domain's CNAME chain, asked of one resolver (`DEPLOY_DNS_SERVER`,
//! else the first `nameserver` of `/etc/resolv.conf`) over UDP. Messages are built and read
//! with hickory-proto, the well-kept DNS wire format crate; the exchange itself is one datagram
//! each way (hickory-resolver, with its pools and caches, added half a megabyte and passed the
//! 5 MB ceiling of the release binary).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;

/// CNAME hops followed before giving up (a loop, or a chain no CDN makes).
const MAX_HOPS: usize = 8;
/// One query's wait for its answer; each is asked twice.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The system's resolver configuration.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// A resolver to ask CNAME questions.
pub struct Dns {
    server: SocketAddr,
}

impl Dns {
    /// `server`, or the system's first name server.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, String> {
        let server = match server {
            Some(s) => s,
            None => {
                let conf = std::fs::read_to_string(RESOLV_CONF)
                    .map_err(|e| format!("cannot read {RESOLV_CONF}: {e}"))?;
                system_server(&conf).ok_or_else(|| format!("{RESOLV_CONF} names no nameserver"))?
            }
        };
        Ok(Dns { server })
    }

    /// The CNAME targets of `name`, hop by hop (lower case, without the final dot): empty when
    /// it has none; an error when DNS could not tell.
    pub async fn cnames(&self, name: &str) -> Result<Vec<String>, String> {
        let mut chain: Vec<String> = Vec::new();
        let mut current = name.trim_end_matches('.').to_ascii_lowercase();
        for _ in 0..MAX_HOPS {
            let next = match self.cname(&current).await {
                Ok(Some(next)) => next,
                Ok(None) => break,
                // What was seen so far still tells; nothing seen tells nothing.
                Err(e) if chain.is_empty() => return Err(e),
                Err(_) => break,
            };
            if chain.contains(&next) {
                break;
            }
            current.clone_from(&next);
            chain.push(next);
        }
        Ok(chain)
    }

    /// One CNAME question: its target, none (NXDOMAIN, or no CNAME record), or why DNS could
    /// not tell.
    async fn cname(&self, name: &str) -> Result<Option<String>, String> {
        let qname = Name::from_ascii(format!("{name}.")).map_err(|e| format!("{name}: {e}"))?;
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(qname, RecordType::CNAME));
        let bytes = query.to_vec().map_err(|e| e.to_string())?;
        let local: SocketAddr = match self.server {
            SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            SocketAddr::V6(_) => ([0u16; 8], 0).into(),
        };
        let socket = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
        let mut last = String::from("no answer");
        for _ in 0..2 {
            socket
                .send_to(&bytes, self.server)
                .await
                .map_err(|e| e.to_string())?;
            match tokio::time::timeout(QUERY_TIMEOUT, answer_to(&socket, query.metadata.id)).await {
                Ok(Ok(reply)) => return read_cname(&reply),
                Ok(Err(e)) => last = e,
                Err(_) => last = format!("{} did not answer within {QUERY_TIMEOUT:?}", self.server),
            }
        }
        Err(last)
    }
}

/// The reply to query `id` (datagrams for other ids are left unread).
async fn answer_to(socket: &UdpSocket, id: u16) -> Result<Message, String> {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
        match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id == id => return Ok(m),
            _ => continue,
        }
    }
}

/// What a reply says of the CNAME asked for.
fn read_cname(reply: &Message) -> Result<Option<String>, String> {
    match reply.metadata.response_code {
        ResponseCode::NoError => Ok(reply.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        })),
        ResponseCode::NXDomain => Ok(None),
        other => Err(format!("the resolver answered {other}")),
    }
}

/// The first `nameserver` of a resolv.conf text, on port 53.
fn system_server(conf: &str) -> Option<SocketAddr> {
    conf.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        match (words.next(), words.next()) {
            (Some("nameserver"), Some(ip)) => ip
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| (ip, 53).into()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_server_is_the_first_nameserver() {
        let conf =
            "# generated\nsearch example.com\nnameserver 169.254.78.1\nnameserver 10.0.0.2\n";
        assert_eq!(
            system_server(conf),
            Some("169.254.78.1:53".parse().unwrap())
        );
        assert_eq!(system_server("options ndots:5\n"), None);
    }
}
