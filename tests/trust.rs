//! The trust check through the real handler against the simulator: a chain is deployed only when
//! it builds to a trusted root (the public web roots, or `DEPLOY_TRUST_ROOTS`), can serve TLS and
//! has strong keys; a refused one makes no CDN call at all and says what to mend. What is written
//! is the chain as the CDN should serve it: leaf first, the path in order, other certificates
//! after it, the self-signed root left out.

mod common;

use std::time::Duration;

use cdn_cert_deploy::cert;
use cdn_cert_deploy::handler::Output;
use cdn_cert_deploy::sim::Simulator;
use common::*;
use serde_json::json;

const BUDGET: Duration = Duration::from_secs(60);
const NAMES: &[&str] = &["example.com", "*.example.com"];

async fn sim() -> Simulator {
    start(sim_config(vec![domain("www.example.com", 100)])).await
}

/// A request for www.example.com with `chain` (PEM blocks, in this order) and `key`.
fn request_with(chain: &[&str], key: &str) -> serde_json::Value {
    json!({"domains": ["www.example.com"], "certificate": chain.concat(), "private_key": key})
}

/// Asserts that the run was refused as `untrusted_chain` (exit 2, HTTP 400) with a message
/// holding `needle`, and that the simulator saw no call at all.
fn assert_refused(out: &Output, sim: &Simulator, needle: &str) {
    let e = out.result.error.as_ref().expect("a run-level error");
    assert_eq!(e.code, "untrusted_chain", "{e:?}");
    assert!(
        e.message.contains(needle),
        "{:?} lacks {needle:?}",
        e.message
    );
    assert_eq!(e.field.as_deref(), Some("certificate"));
    assert_eq!(out.exit_code, 2);
    assert_eq!(e.code.http_class().status(), 400);
    assert!(!out.result.ok);
    let stats = sim.stats();
    let calls: u64 = stats.apis.values().map(|a| a.calls).sum();
    assert_eq!(
        (calls, stats.signed_calls),
        (0, 0),
        "a refused chain calls nothing"
    );
}

/// The chain the simulator's domain now serves, as DER, in order.
fn served(sim: &Simulator) -> Vec<Vec<u8>> {
    let d = sim.domain("www.example.com").unwrap();
    cert::parse_chain(d.https["certificate_value"].as_str().unwrap()).unwrap()
}

fn ders(pems: &[&str]) -> Vec<Vec<u8>> {
    cert::parse_chain(&pems.concat()).unwrap()
}

/// The `trust` and `chain` notes of a result's certificate block.
fn judged(out: &Output) -> (String, Vec<String>) {
    let c = out.result.certificate.as_ref().unwrap();
    (c.trust.clone().unwrap_or_default(), c.chain.clone())
}

#[tokio::test]
async fn a_complete_chain_of_a_private_ca_deploys_as_sent() {
    let root = TestCa::root("Trust Test Root");
    let inter = root.intermediate("Trust Test Intermediate");
    let leaf = inter.leaf(NAMES, -1, 90, &[rcgen::ExtendedKeyUsagePurpose::ServerAuth]);
    let sim = sim().await;
    let h = handler_env(&sim, &[("DEPLOY_TRUST_ROOTS", &root.pem())]);
    let out = run(
        &h,
        request_with(&[&leaf.chain, &inter.pem()], &leaf.key),
        BUDGET,
    )
    .await;
    assert_deployed(&out);
    assert_eq!(served(&sim), ders(&[&leaf.chain, &inter.pem()]));
    let (trust, notes) = judged(&out);
    assert_eq!(
        trust,
        "verified: builds to `Trust Test Root` (DEPLOY_TRUST_ROOTS)"
    );
    assert!(notes.is_empty(), "{notes:?}");
    let shown = serde_json::to_value(&out.result).unwrap();
    assert!(shown["certificate"].get("chain").is_none(), "{shown}");
}

#[tokio::test]
async fn a_private_root_is_trusted_only_when_configured_and_is_left_out() {
    let root = TestCa::root("Trust Private Root");
    let inter = root.intermediate("Trust Private Intermediate");
    let leaf = inter.leaf(NAMES, -1, 90, &[]);
    let (inter_pem, root_pem) = (inter.pem(), root.pem());
    let req = request_with(&[&leaf.chain, &inter_pem, &root_pem], &leaf.key);

    // Not configured: refused, naming the root and the way to trust it.
    let sim1 = sim().await;
    let out = run(&handler(&sim1), req.clone(), BUDGET).await;
    assert_refused(
        &out,
        &sim1,
        "chain builds to `Trust Private Root`, which is not a trusted root: add it to DEPLOY_TRUST_ROOTS",
    );

    // Configured from a file: deployed, without the self-signed root.
    let dir = std::env::temp_dir().join(format!("cdn-trust-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("roots.pem");
    std::fs::write(&file, root.pem()).unwrap();
    let sim2 = sim().await;
    let roots = format!("@{}", file.display());
    let out = run(
        &handler_env(&sim2, &[("DEPLOY_TRUST_ROOTS", &roots)]),
        req,
        BUDGET,
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
    assert_deployed(&out);
    assert_eq!(served(&sim2), ders(&[&leaf.chain, &inter.pem()]));
    let (trust, notes) = judged(&out);
    assert!(
        trust.contains("`Trust Private Root` (DEPLOY_TRUST_ROOTS)"),
        "{trust}"
    );
    assert_eq!(
        notes,
        ["left out the self-signed root `Trust Private Root` (clients hold their own roots)"]
    );
}

#[tokio::test]
async fn a_missing_intermediate_is_named_and_nothing_is_called() {
    let root = TestCa::root("Trust Test Root");
    let inter = root.intermediate("Trust Test Intermediate");
    let leaf = inter.leaf(NAMES, -1, 90, &[]);
    let sim = sim().await;
    let h = handler_env(&sim, &[("DEPLOY_TRUST_ROOTS", &root.pem())]);
    let out = run(&h, request_with(&[&leaf.chain], &leaf.key), BUDGET).await;
    assert_refused(
        &out,
        &sim,
        "intermediate missing: the chain ends at `example.com`, whose issuer `Trust Test Intermediate` is not in it and is not a trusted root: send the full chain",
    );
}

#[tokio::test]
async fn a_chain_in_the_wrong_order_is_reordered_and_deployed() {
    let root = TestCa::root("Trust Order Root");
    let upper = root.intermediate("Trust Order Upper");
    let lower = upper.intermediate("Trust Order Lower");
    let leaf = lower.leaf(NAMES, -1, 90, &[]);
    let sim = sim().await;
    let h = handler_env(&sim, &[("DEPLOY_TRUST_ROOTS", &root.pem())]);
    // The root, then the intermediates top down: the leaf's issuer comes last.
    let (root_pem, upper_pem, lower_pem) = (root.pem(), upper.pem(), lower.pem());
    let sent = [leaf.chain.as_str(), &root_pem, &upper_pem, &lower_pem];
    let out = run(&h, request_with(&sent, &leaf.key), BUDGET).await;
    assert_deployed(&out);
    assert_eq!(
        served(&sim),
        ders(&[&leaf.chain, &lower.pem(), &upper.pem()])
    );
    let (_, notes) = judged(&out);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with(
            "reordered: sent as `example.com`, `Trust Order Upper`, `Trust Order Lower`"
        ),
        "{notes:?}"
    );
    assert!(notes[1].contains("left out the self-signed root `Trust Order Root`"));
}

#[tokio::test]
async fn a_cross_sign_stays_after_the_path() {
    let root = TestCa::root("Trust Cross Root");
    let old_root = TestCa::root("Trust Old Root");
    let inter = root.intermediate("Trust Cross Intermediate");
    // The same intermediate (name and key), also signed by a root old clients hold.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Trust Cross Intermediate");
    let cross = params
        .signed_by(&inter.key, &old_root.cert, &old_root.key)
        .unwrap()
        .pem();
    let leaf = inter.leaf(NAMES, -1, 90, &[]);
    let sim = sim().await;
    let h = handler_env(&sim, &[("DEPLOY_TRUST_ROOTS", &root.pem())]);
    let (inter_pem, root_pem) = (inter.pem(), root.pem());
    let sent = [leaf.chain.as_str(), &cross, &inter_pem, &root_pem];
    let out = run(&h, request_with(&sent, &leaf.key), BUDGET).await;
    assert_deployed(&out);
    assert_eq!(served(&sim), ders(&[&leaf.chain, &inter.pem(), &cross]));
    let (trust, notes) = judged(&out);
    assert!(trust.contains("`Trust Cross Root`"), "{trust}");
    assert!(notes[0].starts_with("reordered"), "{notes:?}");
}

#[tokio::test]
async fn a_self_signed_leaf_is_refused() {
    let leaf = self_signed(NAMES);
    let sim = sim().await;
    let out = run(&handler(&sim), request(&["www.example.com"], &leaf), BUDGET).await;
    assert_refused(&out, &sim, "self-signed leaf `example.com`");
    assert!(out
        .result
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("options.trust"));
}

#[tokio::test]
async fn a_leaf_for_client_auth_only_is_refused() {
    let leaf = TEST_CA.leaf(NAMES, -1, 90, &[rcgen::ExtendedKeyUsagePurpose::ClientAuth]);
    let sim = sim().await;
    let out = run(&handler(&sim), request(&["www.example.com"], &leaf), BUDGET).await;
    assert_refused(&out, &sim, "the leaf is for clientAuth only");
}

#[tokio::test]
async fn an_rsa_1024_key_is_refused_as_weak() {
    // rcgen cannot make RSA keys: a fixed leaf made once with openssl (tests/fixtures/README.md).
    let leaf = include_str!("fixtures/rsa1024-leaf.pem");
    let key = include_str!("fixtures/rsa1024-leaf.key");
    let ca = include_str!("fixtures/rsa1024-ca.pem");
    let sim = sim().await;
    let h = handler_env(&sim, &[("DEPLOY_TRUST_ROOTS", ca)]);
    let out = run(&h, request_with(&[leaf], key), BUDGET).await;
    assert_refused(
        &out,
        &sim,
        "RSA 1024-bit key in the leaf `example.com`: at least RSA 2048 bits or EC P-256",
    );
}

#[tokio::test]
async fn trust_any_deploys_a_self_signed_leaf_and_says_so() {
    let leaf = self_signed(NAMES);
    let sim = sim().await;
    let mut req = request(&["www.example.com"], &leaf);
    req["options"] = json!({"trust": "any"});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert_deployed(&out);
    assert_eq!(served(&sim), ders(&[&leaf.chain]));
    let shown = serde_json::to_value(&out.result).unwrap();
    assert_eq!(
        shown["certificate"]["trust"],
        "not checked (options.trust: any)"
    );
}

#[tokio::test]
async fn another_trust_word_is_an_invalid_request() {
    let sim = sim().await;
    let mut req = request(&["www.example.com"], &example_cert());
    req["options"] = json!({"trust": "none"});
    let out = run(&handler(&sim), req, BUDGET).await;
    let e = out.result.error.as_ref().unwrap();
    assert_eq!(e.code, "invalid_request");
    assert_eq!(e.field.as_deref(), Some("options.trust"));
    assert_eq!(out.exit_code, 2);
}

#[tokio::test]
async fn invoke_exits_2_on_an_untrusted_chain() {
    let leaf = self_signed(NAMES);
    let sim = sim().await;
    let dir = std::env::temp_dir().join(format!("cdn-trust-cli-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let event = dir.join("event.json");
    std::fs::write(&event, request(&["www.example.com"], &leaf).to_string()).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cdn-cert-deploy"))
        .arg("invoke")
        .arg("--event")
        .arg(&event)
        .arg("--endpoint")
        .arg(sim.endpoint())
        .env_clear()
        .env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK)
        .output()
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"]["code"], "untrusted_chain", "{json}");
    assert_eq!(sim.stats().signed_calls, 0);
}
