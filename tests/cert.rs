//! Certificate and key checks on real PEM files: every key format a user may hold, chains in
//! the wrong order, expiry, and fingerprints.

mod common;

use cdn_cert_deploy::cert::{self, CertError};
use cdn_cert_deploy::huawei::credential::Secret;
use common::*;

const RSA_PKCS1_CERT: &str = include_str!("fixtures/rsa-pkcs1.pem");
const RSA_PKCS1_KEY: &str = include_str!("fixtures/rsa-pkcs1.key");
const EC_SEC1_CERT: &str = include_str!("fixtures/ec-sec1.pem");
const EC_SEC1_KEY: &str = include_str!("fixtures/ec-sec1.key");
const DEMO_LEAF: &str = include_str!("fixtures/demo-leaf.pem");
const DEMO_CA: &str = include_str!("fixtures/demo-ca.pem");
const DEMO_KEY: &str = include_str!("fixtures/demo-leaf.key");

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[test]
fn accepts_pkcs1_rsa_keys() {
    let b = cert::validate(RSA_PKCS1_CERT, &Secret::new(RSA_PKCS1_KEY), now()).unwrap();
    assert_eq!(b.leaf.subject_names, vec!["rsa.example.com"]);
}

#[test]
fn accepts_sec1_ec_keys_with_a_parameters_block() {
    assert!(EC_SEC1_KEY.contains("BEGIN EC PARAMETERS"));
    let b = cert::validate(EC_SEC1_CERT, &Secret::new(EC_SEC1_KEY), now()).unwrap();
    assert_eq!(b.leaf.subject_names, vec!["ec.example.com"]);
}

#[test]
fn accepts_pkcs8_keys_and_keeps_the_chain_leaf_first() {
    let chain = format!("{DEMO_LEAF}\n{DEMO_CA}");
    let b = cert::validate(&chain, &Secret::new(DEMO_KEY), now()).unwrap();
    assert_eq!(b.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(
        cert::leaf_fingerprint(&b.chain_pem),
        cert::leaf_fingerprint(DEMO_LEAF)
    );
    assert_eq!(b.leaf.sha256_fingerprint.len(), 64);
    assert!(b.leaf.not_after.ends_with('Z'));
}

#[test]
fn a_chain_with_the_leaf_last_says_so() {
    let chain = format!("{DEMO_CA}\n{DEMO_LEAF}");
    let e = cert::validate(&chain, &Secret::new(DEMO_KEY), now()).unwrap_err();
    assert_eq!(e.code(), "key_mismatch");
    assert!(e.to_string().contains("put the leaf first"), "{e}");
}

#[test]
fn a_key_of_another_type_does_not_match() {
    let e = cert::validate(RSA_PKCS1_CERT, &Secret::new(EC_SEC1_KEY), now()).unwrap_err();
    assert!(matches!(e, CertError::KeyMismatch(_)));
    assert_eq!(e.field(), "private_key");
}

#[test]
fn expiry_is_judged_at_the_given_time() {
    let c = example_cert();
    let key = Secret::new(c.key.clone());
    assert!(cert::validate(&c.chain, &key, now()).is_ok());
    let e = cert::validate(&c.chain, &key, now() + 100 * 86_400).unwrap_err();
    assert_eq!(e.code(), "certificate_expired");
}

#[test]
fn encrypted_keys_are_refused_with_a_reason() {
    let e = cert::validate(
        DEMO_LEAF,
        &Secret::new(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        ),
        now(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_certificate");
    assert!(e.to_string().contains("encrypted"));
}

#[test]
fn coverage_of_the_generated_certificate() {
    let c = example_cert();
    let b = cert::validate(&c.chain, &Secret::new(c.key.clone()), now()).unwrap();
    let names = &b.leaf.subject_names;
    assert!(cert::covered_by(names, "www.example.com"));
    assert!(cert::covered_by(names, "example.com"));
    assert!(cert::covered_by(names, "*.example.com"));
    assert!(!cert::covered_by(names, "a.b.example.com"));
    assert!(!cert::covered_by(names, "example.org"));
}

/// A leaf with `n` names, signed by a chain of `depth` CAs (leaf first, root last).
fn many(n: usize, depth: usize) -> (String, String) {
    let names: Vec<String> = (0..n).map(|i| format!("n{i}.example.com")).collect();
    let mut ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let mut ca = params.self_signed(&ca_key).unwrap();
    let mut chain = vec![ca.pem()];
    for _ in 1..depth {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca = params.signed_by(&key, &ca, &ca_key).unwrap();
        ca_key = key;
        chain.push(ca.pem());
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    chain.push(leaf.pem());
    chain.reverse();
    (chain.concat(), key.serialize_pem())
}

#[test]
fn a_hundred_names_and_a_chain_of_ten_are_accepted() {
    let (chain, key) = many(100, 9);
    assert_eq!(cert::parse_chain(&chain).unwrap().len(), 10);
    let b = cert::validate(&chain, &Secret::new(key), now()).unwrap();
    assert_eq!(b.leaf.subject_names.len(), 100);
}

#[test]
fn more_names_than_any_ca_issues_are_refused() {
    let (chain, key) = many(cert::MAX_NAMES + 1, 1);
    let e = cert::validate(&chain, &Secret::new(key), now()).unwrap_err();
    assert!(
        matches!(&e, CertError::InvalidCertificate(m) if m.contains("at most 1000")),
        "{e}"
    );
}
