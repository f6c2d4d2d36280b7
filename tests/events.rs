//! Every sample in events/ is used: it parses as its consumer reads it.

use cdn_cert_deploy::cert;
use cdn_cert_deploy::request::{self, CertificateInput, Strictness};
use cdn_cert_deploy::sim::SimConfig;

fn load(name: &str) -> serde_json::Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn the_demo_request_is_valid_and_its_certificate_covers_all_but_one_domain() {
    let (req, unknown) = request::parse(load("deploy.json"), Strictness::Strict).unwrap();
    assert!(unknown.is_empty());
    let CertificateInput::Pem { chain, private_key } = &req.certificate else {
        panic!("the demo uses a PEM pair")
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let bundle = cert::validate(chain, private_key, now).unwrap();
    let uncovered: Vec<&String> = req
        .domains
        .iter()
        .filter(|d| !cert::covered_by(&bundle.leaf.subject_names, d))
        .collect();
    assert_eq!(uncovered, vec!["shop.example.net"]);
}

#[test]
fn the_demo_simulator_configuration_loads() {
    let cfg: SimConfig = serde_json::from_value(load("sim-demo.json")).unwrap();
    assert_eq!(cfg.domains.len(), 5);
    assert_eq!(cfg.credentials.len(), 1);
}
