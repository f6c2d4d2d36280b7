//! The bulk read (ShowCertificatesHttpsInfo) and the batch write (UpdateDomainMultiCertificates)
//! through the real client against the simulator: what the batch resets, and partial failures in
//! a 200 answer.

mod common;

use std::time::Duration;

use cdn_cert_deploy::cert;
use cdn_cert_deploy::clock;
use cdn_cert_deploy::huawei::cdn::{CallOptions, CdnClient, Endpoint};
use cdn_cert_deploy::huawei::credential::Secret;
use cdn_cert_deploy::huawei::model::{BatchHttps, BatchPut, BatchRedirect};
use cdn_cert_deploy::huawei::quota::Pacer;
use cdn_cert_deploy::sim::{SimDomainConfig, Simulator};
use common::*;
use serde_json::json;

fn client(sim: &Simulator) -> CdnClient {
    CdnClient::new(
        Endpoint::parse(&sim.endpoint()).unwrap(),
        credentials(SK),
        clock::system(),
        Pacer::documented(),
    )
    .unwrap()
}

fn opts() -> CallOptions {
    CallOptions::new(
        Duration::from_secs(5),
        tokio::time::Instant::now() + Duration::from_secs(30),
    )
}

fn batch(domains: &[&str], cert: &TestCert) -> BatchPut {
    BatchPut {
        https: BatchHttps {
            domain_name: domains.join(","),
            https_switch: 1,
            access_origin_way: 3,
            http2: 1,
            force_redirect_https: 1,
            force_redirect_config: BatchRedirect {
                switch: 1,
                redirect_type: Some("https".into()),
            },
            cert_name: Some("batch-cert".into()),
            certificate: Some(cert.chain.clone()),
            private_key: Some(Secret::new(cert.key.clone())),
            certificate_type: 0,
            scm_certificate_id: None,
        },
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_write_sets_what_it_sends_and_resets_what_it_cannot() {
    let cert = example_cert();
    let old = cert_valid(&["a.example.com"], -10, 10);
    let mut a = domain("a.example.com", 200);
    a.https = Some(serving(&old, "off", "TLSv1.3", "on"));
    let sim = start(sim_config(vec![a, domain("b.example.com", 200)])).await;
    let c = client(&sim);
    let answer = c
        .update_multi_certificates(
            &batch(&["a.example.com", "b.example.com"], &cert),
            None,
            opts(),
        )
        .await
        .unwrap();
    assert!(answer.value.failures().is_empty());
    assert!(answer.request_id.is_some());
    let after = sim.domain("a.example.com").unwrap();
    assert_eq!(after.status, "configuring");
    assert_eq!(after.origin_protocol, "https");
    assert_eq!(after.https["http2_status"], "on");
    assert_eq!(
        after.force_redirect,
        json!({"status": "on", "type": "https", "redirect_code": 301})
    );
    // The batch call cannot carry these: the simulator, like the worst case, resets them.
    assert_eq!(after.https["tls_version"], "TLSv1.1,TLSv1.2,TLSv1.3");
    assert_eq!(after.https["ocsp_stapling_status"], "off");
    assert_eq!(
        cert::leaf_fingerprint(after.https["certificate_value"].as_str().unwrap()),
        cert::leaf_fingerprint(&cert.chain)
    );
}

#[tokio::test(start_paused = true)]
async fn a_200_batch_answer_can_carry_per_domain_failures() {
    let cert = example_cert();
    let busy = SimDomainConfig {
        status: "configuring".into(),
        ..domain("busy.example.com", 60_000)
    };
    let sim = start(sim_config(vec![domain("a.example.com", 200), busy])).await;
    let c = client(&sim);
    let answer = c
        .update_multi_certificates(
            &batch(
                &["a.example.com", "busy.example.com", "missing.example.com"],
                &cert,
            ),
            None,
            opts(),
        )
        .await
        .unwrap();
    let failures = answer.value.failures();
    let failed: Vec<&str> = failures.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(failed, vec!["busy.example.com", "missing.example.com"]);
    assert!(failures[0].1.contains("configured"));
    assert_eq!(
        sim.domain("a.example.com").unwrap().writes,
        1,
        "the others were applied"
    );
    assert_eq!(sim.domain("busy.example.com").unwrap().writes, 0);
}

#[tokio::test(start_paused = true)]
async fn the_bulk_read_pages_every_domain_with_its_certificate() {
    let cert = example_cert();
    let mut a = domain("a.example.com", 200);
    a.https = Some(serving(&cert, "on", "TLSv1.2", "off"));
    a.origin_protocol = "https".into();
    let names: Vec<String> = (0..5).map(|i| format!("d{i}.example.com")).collect();
    let mut domains = vec![a];
    domains.extend(names.iter().map(|n| domain(n, 200)));
    let sim = start(sim_config(domains)).await;
    let c = client(&sim);
    let first = c.show_https_info(1, 4, None, opts()).await.unwrap().value;
    let second = c.show_https_info(2, 4, None, opts()).await.unwrap().value;
    assert_eq!(first.total, 6);
    assert_eq!((first.https.len(), second.https.len()), (4, 2));
    let a = &first.https[0];
    assert_eq!(a.domain_name, "a.example.com");
    assert_eq!(
        a.https_status,
        Some(3),
        "HTTPS on with an https origin (the simulator's default reading)"
    );
    assert_eq!(a.http2, Some(1));
    assert_eq!(
        cert::leaf_fingerprint(a.certificate.as_deref().unwrap()),
        cert::leaf_fingerprint(&cert.chain)
    );
    assert_eq!(first.https[1].https_status, Some(0));
    assert!(first.https[1].certificate.is_none());
}
