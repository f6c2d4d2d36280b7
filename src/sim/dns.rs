//! The simulator's DNS: on its port over UDP, each domain's CNAME as its DNS would answer it
//! (the one the CDN assigned, unless the configuration says the domain points elsewhere), so
//! that the doctor's CNAME check runs against a stand-in that speaks the DNS wire format.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::config::SimDomainConfig;

/// The CNAME the CDN assigns a domain (ListDomains `cname`).
pub fn assigned_cname(domain: &str) -> String {
    format!("{}.c.cdnhwc1.com", domain.replace('*', "wildcard"))
}

/// Each domain's answer: a CNAME target, or none.
pub fn answers(domains: &[SimDomainConfig]) -> HashMap<String, Option<String>> {
    domains
        .iter()
        .map(|d| {
            let name = d.name.to_ascii_lowercase();
            let answer = match d.dns_cname.as_deref() {
                None => Some(assigned_cname(&name)),
                Some("") => None,
                Some(other) => Some(other.to_ascii_lowercase()),
            };
            (name, answer)
        })
        .collect()
}

/// Answers queries on `socket` until the task is aborted.
pub async fn serve(socket: UdpSocket, answers: Arc<HashMap<String, Option<String>>>) {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = reply(&buf[..n], &answers) {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

/// The answer to one query: a CNAME for a known domain (or a name under a wildcard domain),
/// NXDOMAIN otherwise. `None` for bytes that are not a query.
fn reply(query: &[u8], answers: &HashMap<String, Option<String>>) -> Option<Vec<u8>> {
    if query.len() < 12 || query[4..6] != [0, 1] {
        return None;
    }
    let (name, end) = read_name(query, 12)?;
    let question_end = end.checked_add(4).filter(|e| *e <= query.len())?;
    let qtype = u16::from_be_bytes([query[end], query[end + 1]]);
    let parent = name.split_once('.').map(|(_, p)| format!("*.{p}"));
    let found = answers
        .get(&name)
        .or_else(|| parent.as_ref().and_then(|p| answers.get(p)))
        .cloned()
        .flatten();
    let mut out = Vec::with_capacity(question_end + 64);
    out.extend_from_slice(&query[0..2]);
    let rcode = if found.is_some() { 0 } else { 3 };
    out.extend_from_slice(&[0x81 | (query[2] & 0x01), 0x80 | rcode]);
    let answer_count = u16::from(found.is_some() && qtype == 5);
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&answer_count.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question_end]);
    if let (Some(target), 1) = (found, answer_count) {
        let rdata = encode_name(&target);
        out.extend_from_slice(&[0xC0, 0x0C, 0, 5, 0, 1, 0, 0, 0, 60]);
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

/// A question's name (lower case, no final dot) and where it ends; no compression in queries.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = usize::from(*msg.get(at)?);
        at += 1;
        if len == 0 {
            return Some((labels.join(".").to_ascii_lowercase(), at));
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(msg.get(at..at + len)?).into_owned());
        at += len;
    }
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend(encode_name(name));
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    #[test]
    fn known_names_get_their_cname_and_others_nxdomain() {
        let mut moved = SimDomainConfig::new("moved.example.com");
        moved.dns_cname = Some("old-cdn.example.net".into());
        let answers = answers(&[
            SimDomainConfig::new("www.example.com"),
            SimDomainConfig::new("*.example.org"),
            moved,
        ]);
        let r = reply(&query("WWW.example.com", 5), &answers).unwrap();
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(&r[6..8], &[0, 1], "one answer");
        assert!(r.ends_with(&encode_name("www.example.com.c.cdnhwc1.com")));
        let r = reply(&query("edge-check.example.org", 5), &answers).unwrap();
        assert!(r.ends_with(&encode_name("wildcard.example.org.c.cdnhwc1.com")));
        let r = reply(&query("moved.example.com", 5), &answers).unwrap();
        assert!(r.ends_with(&encode_name("old-cdn.example.net")));
        let r = reply(&query("nobody.example.net", 5), &answers).unwrap();
        assert_eq!(r[3] & 0x0f, 3, "NXDOMAIN");
        assert!(reply(&[0; 5], &answers).is_none());
    }
}
