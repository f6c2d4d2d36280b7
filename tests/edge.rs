//! `options.verify_edge`: after the run, a TLS handshake to each live domain's CNAME (mapped to
//! loopback TLS servers by `DEPLOY_EDGE_CONNECT`) records what the edge serves: the new
//! certificate, the old one (counted stale, named in the notification, and used for `expiring`),
//! or nothing (a closed port: data, not a crash).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::webhook::WebhookReceiver;
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{crypto::ring, ServerConfig};

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn fingerprint(cert: &TestCert) -> String {
    hex::encode(Sha256::digest(pem_der(&cert.chain)))
}

/// A TLS server on loopback serving `cert`; records the SNI of each handshake.
async fn edge_serving(cert: &TestCert) -> (u16, Arc<Mutex<Vec<String>>>) {
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(pem_der(&cert.chain))],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pem_der(&cert.key))),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let names = Arc::new(Mutex::new(Vec::new()));
    let seen = names.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let sni = tls.get_ref().1.server_name().unwrap_or("").to_string();
                    seen.lock().unwrap().push(sni);
                }
            });
        }
    });
    (port, names)
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The CNAME the simulator gives a domain.
fn cname(domain: &str) -> String {
    format!("{}.c.cdnhwc1.com", domain.replace('*', "wildcard"))
}

#[tokio::test(start_paused = true)]
async fn the_edge_is_read_as_it_is_new_old_or_unreachable() {
    let old = cert_valid(&["example.com", "*.example.com"], -80, 10);
    let new = example_cert();
    let mut domains = Vec::new();
    for (name, serves) in [
        ("www.example.com", &old),
        ("img.example.com", &new),
        ("slow.example.com", &old),
        ("*.example.com", &old),
    ] {
        let mut d = domain(name, 100);
        d.https = Some(serving(serves, "on", "TLSv1.2,TLSv1.3", "on"));
        domains.push(d);
    }
    let sim = start(sim_config(domains)).await;
    let (www_port, www_sni) = edge_serving(&new).await;
    let (img_port, _) = edge_serving(&old).await;
    let (wild_port, wild_sni) = edge_serving(&new).await;
    let connect = format!(
        "{}=127.0.0.1:{www_port},{}=127.0.0.1:{img_port},{}=127.0.0.1:{},{}=127.0.0.1:{wild_port}",
        cname("www.example.com"),
        cname("img.example.com"),
        cname("slow.example.com"),
        closed_port(),
        cname("*.example.com"),
    );
    let hook = WebhookReceiver::start(None, None).await;
    let hook_url = format!("{}/slack/x", hook.url);
    let h = handler_env(
        &sim,
        &[
            ("DEPLOY_EDGE_CONNECT", &connect),
            ("DEPLOY_NOTIFY_WEBHOOK_URL", &hook_url),
            ("DEPLOY_NOTIFY_WEBHOOK_FORMAT", "slack"),
        ],
    );
    let mut req = request(
        &[
            "www.example.com",
            "img.example.com",
            "slow.example.com",
            "*.example.com",
        ],
        &new,
    );
    req["options"] = serde_json::json!({"verify_edge": true});
    let out = run(&h, req, Duration::from_secs(30)).await;
    let json = out.to_json();
    let d = |i: usize| &json["domains"][i];

    // The edge's observations never change a status.
    assert_eq!(
        statuses(&out)
            .iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>(),
        ["deployed", "unchanged", "deployed", "deployed"]
    );
    assert_eq!(d(0)["edge"]["serves_new_certificate"], true, "{json}");
    assert_eq!(d(0)["edge"]["sha256_fingerprint"], fingerprint(&new));
    assert_eq!(d(0)["edge"]["address"], format!("127.0.0.1:{www_port}"));
    assert!(d(0)["edge"]["not_after"].is_string());
    assert_eq!(www_sni.lock().unwrap().as_slice(), ["www.example.com"]);

    // Still the old certificate at the edge: stale, and its expiry is what the report uses.
    assert_eq!(d(1)["edge"]["serves_new_certificate"], false);
    assert_eq!(d(1)["edge"]["sha256_fingerprint"], fingerprint(&old));
    assert_eq!(
        d(1)["expiring"],
        true,
        "the edge serves a certificate expiring in 10 days"
    );
    assert_eq!(json["summary"]["edge_stale"], 1);

    // A closed port is data.
    assert_eq!(d(2)["edge"]["error"]["code"], "edge_unreachable");
    assert!(d(2)["edge"].get("sha256_fingerprint").is_none());

    // A CDN wildcard domain is asked for a name under it.
    assert_eq!(d(3)["edge"]["serves_new_certificate"], true);
    assert_eq!(
        wild_sni.lock().unwrap().as_slice(),
        ["edge-check.example.com"]
    );

    // The notification names the stale edge.
    let got = hook.got();
    assert_eq!(got.len(), 1, "an expiring domain is a problem");
    let text = got[0].text();
    assert!(
        text.contains("EXPIRING img.example.com: serves a certificate that expires"),
        "{text}"
    );
    assert!(text.contains("1 stale at the edge"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn without_verify_edge_no_handshake_is_made() {
    let new = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let (port, sni) = edge_serving(&new).await;
    let connect = format!("{}=127.0.0.1:{port}", cname("www.example.com"));
    let h = handler_env(&sim, &[("DEPLOY_EDGE_CONNECT", &connect)]);
    let out = run(
        &h,
        request(&["www.example.com"], &new),
        Duration::from_secs(30),
    )
    .await;
    assert_deployed(&out);
    let json: Value = out.to_json();
    assert!(json["domains"][0].get("edge").is_none());
    assert!(json["summary"].get("edge_stale").is_none());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sni.lock().unwrap().is_empty());
}
