//! `certificate_source`: the certificate is read from a store at run time. AWS stores are
//! stand-ins on loopback that check SigV4 and answer in the services' wire formats; CSMS and OBS
//! are served by the CDN simulator. A source that cannot be read or holds an unusable pair fails
//! the run with a `certificate_source` error and no CDN call.

mod common;

use std::time::Duration;

use cdn_cert_deploy::handler::{Handler, Output, EXIT_INVALID, EXIT_NOT_OK};
use cdn_cert_deploy::huawei::quota::Api;
use cdn_cert_deploy::sim::{SimStats, Simulator};
use common::aws::{AwsKeys, AwsStandIn};
use common::*;
use serde_json::{json, Value};

const REGION: &str = "eu-central-1";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

fn cdn_calls(s: &SimStats) -> u64 {
    s.apis.values().map(|a| a.calls).sum()
}

async fn stand_in() -> AwsStandIn {
    AwsStandIn::start(
        AwsKeys {
            access_key: "ASIATESTSTANDIN00001".into(),
            secret_key: "aws-secret-key/for+the+stand-in".into(),
            session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE-session-token".into()),
        },
        REGION,
    )
    .await
}

/// Two domains serving an old certificate, and the new one the stores hold.
async fn setup() -> (Simulator, TestCert, TestCert) {
    let old = cert_valid(&["example.com", "*.example.com"], -80, 10);
    let new = example_cert();
    let mut domains = Vec::new();
    for name in ["www.example.com", "img.example.com"] {
        let mut d = domain(name, 100);
        d.https = Some(serving(&old, "on", "TLSv1.2,TLSv1.3", "on"));
        domains.push(d);
    }
    let sim = Simulator::start(sim_config(domains)).await.unwrap();
    (sim, old, new)
}

/// A handler configured as the function reads its environment, with the simulator's CSMS and
/// OBS, and the AWS stand-in when given.
fn handler_env(sim: &Simulator, aws: Option<&AwsStandIn>, extra: &[(&str, &str)]) -> Handler {
    let endpoint = sim.endpoint();
    let aws_env = aws.map(|a| a.env()).unwrap_or_default();
    let mut all: Vec<(&str, &str)> = vec![
        ("HUAWEICLOUD_CSMS_ENDPOINT", &endpoint),
        ("HUAWEICLOUD_OBS_ENDPOINT", &endpoint),
        ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT),
    ];
    all.extend(aws_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    all.extend_from_slice(extra);
    common::handler_env(sim, &all)
}

fn request_from(source: Value) -> Value {
    json!({"domains": ["www.example.com", "img.example.com"], "certificate_source": source})
}

async fn deploy(h: &Handler, source: Value) -> Output {
    run(h, request_from(source), Duration::from_secs(60)).await
}

/// Both domains deployed, and the simulator serves `new` on them.
fn assert_deployed(out: &Output, sim: &Simulator, new: &TestCert) {
    let json = out.to_json();
    assert_eq!(
        statuses(out),
        vec![
            ("www.example.com".to_string(), "deployed".to_string()),
            ("img.example.com".to_string(), "deployed".to_string())
        ],
        "{json:#}"
    );
    assert!(out.result.ok);
    for name in ["www.example.com", "img.example.com"] {
        let served = sim.domain(name).unwrap();
        let chain = served.https["certificate_value"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            chain.trim(),
            new.chain.trim(),
            "{name} serves the stored certificate"
        );
    }
}

/// The run failed with a `certificate_source` error of `reason`, every domain skipped, no CDN call.
fn assert_source_failed(out: &Output, sim: &Simulator, reason: &str, names: &str) {
    let json = out.to_json();
    let error = &json["error"];
    assert_eq!(error["code"], "certificate_source", "{json:#}");
    assert_eq!(error["reason"], reason, "{json:#}");
    assert_eq!(error["field"], "certificate_source");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(names), "`{message}` names `{names}`");
    assert_eq!(out.exit_code, EXIT_INVALID);
    assert!(!out.result.ok);
    assert_eq!(out.result.domains.len(), 2, "every domain is listed");
    for d in &json["domains"].as_array().unwrap()[..] {
        assert_eq!(d["status"], "skipped");
        assert_eq!(d["error"]["code"], "certificate_source");
    }
    assert_eq!(cdn_calls(&sim.stats()), 0, "no CDN call was made");
    assert!(
        !json.to_string().contains("PRIVATE KEY"),
        "no key in the result"
    );
}

#[tokio::test(start_paused = true)]
async fn secretsmanager_secret_deploys() {
    let (sim, _old, new) = setup().await;
    let aws = stand_in().await;
    let arn = aws.put_secret(
        "prod/example.com",
        &json!({"fullchain.pem": new.chain, "privkey.pem": new.key}).to_string(),
    );
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(&h, json!({"type": "secretsmanager", "secret_id": arn})).await;
    assert_deployed(&out, &sim, &new);
    assert!(out.to_json()["certificate"]["source"]
        .as_str()
        .unwrap()
        .contains("secretsmanager secret"));
    let calls = aws.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (calls[0].action.as_str(), calls[0].status),
        ("GetSecretValue", 200)
    );
    assert_eq!(aws.rejected_signatures(), 0);
}

#[tokio::test(start_paused = true)]
async fn secretsmanager_named_json_keys_deploy() {
    let (sim, _old, new) = setup().await;
    let aws = stand_in().await;
    aws.put_secret(
        "acme",
        &json!({"crt": new.chain, "key": new.key, "domain": "example.com"}).to_string(),
    );
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(
        &h,
        json!({"type": "secretsmanager", "secret_id": "acme",
               "json_keys": {"certificate": "crt", "private_key": "key"}}),
    )
    .await;
    assert_deployed(&out, &sim, &new);
}

#[tokio::test(start_paused = true)]
async fn s3_prefix_deploys() {
    let (sim, _old, new) = setup().await;
    let aws = stand_in().await;
    aws.put_object(
        "my-certs",
        "live/example.com/fullchain.pem",
        new.chain.as_bytes(),
    );
    aws.put_object(
        "my-certs",
        "live/example.com/privkey.pem",
        new.key.as_bytes(),
    );
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(
        &h,
        json!({"type": "s3", "bucket": "my-certs", "prefix": "live/example.com/"}),
    )
    .await;
    assert_deployed(&out, &sim, &new);
    let actions: Vec<String> = aws.calls().iter().map(|c| c.resource.clone()).collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(aws.rejected_signatures(), 0);
}

#[tokio::test(start_paused = true)]
async fn ssm_parameters_deploy_through_the_service_specific_endpoint() {
    let (sim, _old, new) = setup().await;
    let aws = stand_in().await;
    aws.put_parameter("/certs/example.com/fullchain", &new.chain, false);
    aws.put_parameter("/certs/example.com/privkey", &new.key, true);
    // Only the SSM variable points at the stand-in: the per-service form is honoured.
    let ssm_url = aws.url.clone();
    let h = handler_env(
        &sim,
        None,
        &[
            ("AWS_ACCESS_KEY_ID", "ASIATESTSTANDIN00001"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-key/for+the+stand-in"),
            ("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE-session-token"),
            ("AWS_REGION", REGION),
            ("AWS_ENDPOINT_URL_SSM", &ssm_url),
        ],
    );
    let out = deploy(
        &h,
        json!({"type": "ssm", "parameters": {"certificate": "/certs/example.com/fullchain",
                                             "private_key": "/certs/example.com/privkey"}}),
    )
    .await;
    assert_deployed(&out, &sim, &new);
    assert_eq!(aws.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn huawei_csms_secret_deploys() {
    let (sim, _old, new) = setup().await;
    sim.put_secret(
        "example-cert",
        &json!({"fullchain": new.chain, "private_key": new.key}).to_string(),
    );
    let h = handler_env(&sim, None, &[]);
    let out = deploy(
        &h,
        json!({"type": "huawei_csms", "secret_name": "example-cert"}),
    )
    .await;
    assert_deployed(&out, &sim, &new);
    let stats = sim.stats();
    assert_eq!((stats.csms_calls, stats.csms_auth_failures), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn huawei_obs_objects_deploy() {
    let (sim, _old, new) = setup().await;
    sim.put_object("certs", "example.com/fullchain.pem", new.chain.as_bytes());
    sim.put_object("certs", "example.com/privkey.pem", new.key.as_bytes());
    let h = handler_env(&sim, None, &[]);
    let out = deploy(
        &h,
        json!({"type": "huawei_obs", "bucket": "certs", "prefix": "example.com/"}),
    )
    .await;
    assert_deployed(&out, &sim, &new);
    let stats = sim.stats();
    assert_eq!((stats.obs_calls, stats.obs_auth_failures), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn scm_source_is_the_scm_certificate_id() {
    let (_sim, _old, _new) = setup().await;
    let mut cfg = sim_config(vec![
        domain("www.example.com", 50),
        domain("img.example.com", 50),
    ]);
    cfg.scm_certificates = vec![scm_example()];
    let sim = Simulator::start(cfg).await.unwrap();
    let h = handler_env(&sim, None, &[]);
    let out = deploy(&h, json!({"type": "scm", "certificate_id": SCM_ID})).await;
    assert!(out.result.ok, "{:#}", out.to_json());
    let json = out.to_json();
    assert_eq!(json["certificate"]["scm_certificate_id"], SCM_ID);
    assert_eq!(
        json["certificate"]["subject_names"],
        json!(["example.com", "*.example.com"])
    );

    // One Certificate Manager does not hold fails like any unreadable source.
    let out = deploy(&h, json!({"type": "scm", "certificate_id": "scs-nope"})).await;
    let json = out.to_json();
    assert_eq!(json["error"]["code"], "certificate_source", "{json:#}");
    assert_eq!(json["error"]["field"], "certificate_source");
    assert_eq!(json["error"]["reason"], "not_found");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("scm certificate `scs-nope`: not found (HTTP 400 SCM.0008"));
    assert_eq!(out.exit_code, EXIT_INVALID);
    assert_eq!(sim.stats().calls(Api::UpdateFullConfig), 2);
}

#[tokio::test(start_paused = true)]
async fn a_missing_secret_fails_with_no_cdn_call() {
    let (sim, _old, _new) = setup().await;
    let aws = stand_in().await;
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(
        &h,
        json!({"type": "secretsmanager", "secret_id": "prod/nope"}),
    )
    .await;
    assert_source_failed(&out, &sim, "not_found", "prod/nope");
    assert!(out.to_json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ResourceNotFoundException"));
}

#[tokio::test(start_paused = true)]
async fn a_wrong_json_key_fails_naming_it() {
    let (sim, _old, new) = setup().await;
    let aws = stand_in().await;
    aws.put_secret(
        "prod/example.com",
        &json!({"fullchain.pem": new.chain, "privkey.pem": new.key}).to_string(),
    );
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(
        &h,
        json!({"type": "secretsmanager", "secret_id": "prod/example.com",
               "json_keys": {"certificate": "cert", "private_key": "privkey.pem"}}),
    )
    .await;
    assert_source_failed(&out, &sim, "bad_json_key", "`cert`");
}

#[tokio::test(start_paused = true)]
async fn a_denied_read_fails_as_access_denied() {
    let (sim, _old, new) = setup().await;
    let aws = stand_in().await;
    aws.put_object("my-certs", "live/fullchain.pem", new.chain.as_bytes());
    aws.put_object("my-certs", "live/privkey.pem", new.key.as_bytes());
    aws.deny("my-certs/live/privkey.pem");
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(
        &h,
        json!({"type": "s3", "bucket": "my-certs", "prefix": "live/"}),
    )
    .await;
    assert_source_failed(&out, &sim, "access_denied", "live/privkey.pem");
}

#[tokio::test(start_paused = true)]
async fn a_key_that_does_not_match_fails_as_key_mismatch() {
    let (sim, _old, new) = setup().await;
    let other = example_cert();
    let aws = stand_in().await;
    aws.put_parameter("/certs/fullchain.pem", &new.chain, false);
    aws.put_parameter("/certs/privkey.pem", &other.key, true);
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(&h, json!({"type": "ssm", "prefix": "/certs/"})).await;
    assert_source_failed(&out, &sim, "key_mismatch", "ssm parameters under `/certs/`");
    assert_eq!(
        aws.calls().len(),
        4,
        "the pair was read twice before it was judged"
    );
}

#[tokio::test(start_paused = true)]
async fn a_pair_read_in_the_middle_of_a_renewal_is_read_again() {
    let (sim, old, new) = setup().await;
    let aws = std::sync::Arc::new(stand_in().await);
    // The issuer has written the new certificate but not yet its key.
    aws.put_object("my-certs", "live/fullchain.pem", new.chain.as_bytes());
    aws.put_object("my-certs", "live/privkey.pem", old.key.as_bytes());
    let issuer = {
        let aws = aws.clone();
        let key = new.key.clone();
        tokio::spawn(async move {
            while aws.calls().len() < 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            aws.put_object("my-certs", "live/privkey.pem", key.as_bytes());
        })
    };
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(
        &h,
        json!({"type": "s3", "bucket": "my-certs", "prefix": "live/"}),
    )
    .await;
    issuer.await.unwrap();
    assert_deployed(&out, &sim, &new);
    assert_eq!(aws.calls().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn missing_aws_settings_fail_before_any_call() {
    let (sim, _old, _new) = setup().await;
    let h = handler_env(&sim, None, &[]);
    let out = deploy(&h, json!({"type": "secretsmanager", "secret_id": "x"})).await;
    assert_source_failed(&out, &sim, "not_configured", "AWS_ACCESS_KEY_ID");
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_source_on_schedule_reports_unchanged_with_zero_writes() {
    let (sim, _old, new) = setup().await;
    let aws = stand_in().await;
    aws.put_secret(
        "prod/example.com",
        &json!({"fullchain": new.chain, "private_key": new.key}).to_string(),
    );
    let h = handler_env(&sim, Some(&aws), &[]);
    let source = json!({"type": "secretsmanager", "secret_id": "prod/example.com"});
    let first = deploy(&h, source.clone()).await;
    assert!(first.result.ok);
    let writes = |s: &SimStats| {
        s.apis
            .iter()
            .filter(|(k, _)| k.starts_with("Update"))
            .map(|(_, a)| a.calls)
            .sum::<u64>()
    };
    let before = writes(&sim.stats());

    // The schedule: a bare EventBridge Scheduler event, the request from DEPLOY_REQUEST.
    let mut h2 = h.clone();
    h2.config.default_request = Some(request_from(source));
    let app = cdn_cert_deploy::app::App {
        handler: Ok(h2),
        platform: cdn_cert_deploy::event::Platform::Lambda,
        function_name: "cdn-cert-deploy-test".into(),
    };
    let event = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
                       "source": "aws.scheduler", "account": "123456789012",
                       "time": "2026-11-28T03:00:00Z", "region": REGION,
                       "resources": [], "detail": "{}"});
    let reply = app
        .invoke(
            event,
            cdn_cert_deploy::app::Context {
                platform_budget: Duration::from_secs(60),
                received: tokio::time::Instant::now(),
                credentials: None,
            },
        )
        .await;
    let body = &reply.body;
    assert_eq!(body["ok"], true, "{body:#}");
    for d in body["domains"].as_array().unwrap() {
        assert_eq!(d["status"], "unchanged", "{body:#}");
    }
    assert_eq!(
        writes(&sim.stats()),
        before,
        "no write on the scheduled run"
    );
    assert_eq!(aws.calls().len(), 2, "the source is read on every run");
    // The run's metrics record says the same.
    let record = reply.metrics.as_ref().expect("a metrics record");
    let unchanged = body["domains"].as_array().unwrap().len() as u64;
    assert_eq!(record["Unchanged"], unchanged);
    assert_eq!(
        (record["Deployed"].as_u64(), record["Failed"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(record["ApiCalls"].as_u64().unwrap() >= 1);
    assert_eq!(record["FunctionName"], "cdn-cert-deploy-test");
}

#[tokio::test(start_paused = true)]
async fn a_source_and_an_inline_certificate_conflict() {
    let (sim, _old, new) = setup().await;
    let h = handler_env(&sim, None, &[]);
    let mut req = request_from(json!({"type": "scm", "certificate_id": "scs1"}));
    req["certificate"] = json!(new.chain);
    let out = run(&h, req, Duration::from_secs(10)).await;
    assert_eq!(out.exit_code, EXIT_INVALID);
    assert_eq!(out.to_json()["error"]["field"], "certificate_source");
    let out = run(
        &h,
        request_from(json!({"type": "s3", "bucket": "b", "prefx": "x/"})),
        Duration::from_secs(10),
    )
    .await;
    let message = out.to_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("prefx"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_store_is_retryable_and_exits_1() {
    let (sim, _old, _new) = setup().await;
    let aws = stand_in().await;
    // A loopback port with nobody listening: connection refused on every try.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let h = handler_env(&sim, Some(&aws), &[("AWS_ENDPOINT_URL", &url)]);
    let out = deploy(&h, json!({"type": "ssm", "prefix": "/certs/example.com/"})).await;
    let json = out.to_json();
    assert_eq!(json["error"]["code"], "certificate_source", "{json:#}");
    assert_eq!(json["error"]["reason"], "unavailable", "{json:#}");
    assert_eq!(json["error"]["retryable"], true);
    assert_eq!(
        out.exit_code, EXIT_NOT_OK,
        "an outage is not an invalid request"
    );
    for d in json["domains"].as_array().unwrap() {
        assert_eq!(d["status"], "skipped");
    }
    assert_eq!(cdn_calls(&sim.stats()), 0);
}

/// A TLS server on loopback whose certificate names another host; counts its handshakes.
async fn tls_server_for_another_host() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::{crypto::ring, ServerConfig};
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["elsewhere.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let seen = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    (format!("https://localhost:{port}"), handshakes)
}

#[tokio::test(start_paused = true)]
async fn a_store_whose_certificate_does_not_fit_is_a_setting_to_fix_not_an_outage() {
    let (sim, _old, _new) = setup().await;
    let aws = stand_in().await;
    let (url, handshakes) = tls_server_for_another_host().await;
    let h = handler_env(&sim, Some(&aws), &[("AWS_ENDPOINT_URL", &url)]);
    let out = deploy(&h, json!({"type": "secretsmanager", "secret_id": "prod/x"})).await;
    let json = out.to_json();
    assert_eq!(json["error"]["reason"], "not_configured", "{json:#}");
    assert_eq!(json["error"]["retryable"], false);
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("certificate"),
        "the cause is named: {message}"
    );
    assert_eq!(out.exit_code, EXIT_INVALID);
    assert_eq!(
        handshakes.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "not retried"
    );
    assert_eq!(cdn_calls(&sim.stats()), 0);
}

#[tokio::test(start_paused = true)]
async fn huawei_store_failures_name_the_source_and_make_no_cdn_call() {
    let (sim, _old, new) = setup().await;
    let h = handler_env(&sim, None, &[]);
    let out = deploy(&h, json!({"type": "huawei_csms", "secret_name": "nope"})).await;
    assert_source_failed(&out, &sim, "not_found", "huawei_csms secret `nope`");

    sim.put_object("certs", "x/fullchain.pem", new.chain.as_bytes());
    let out = deploy(
        &h,
        json!({"type": "huawei_obs", "bucket": "certs", "prefix": "x/"}),
    )
    .await;
    assert_source_failed(&out, &sim, "not_found", "x/privkey.pem");

    // A project the function is not configured with: CSMS refuses it.
    let h = handler_env(
        &sim,
        None,
        &[("HUAWEICLOUD_SDK_PROJECT_ID", "another-project")],
    );
    sim.put_secret(
        "c",
        &json!({"fullchain": new.chain, "private_key": new.key}).to_string(),
    );
    let out = deploy(&h, json!({"type": "huawei_csms", "secret_name": "c"})).await;
    assert_eq!(out.to_json()["error"]["code"], "certificate_source");
    assert_eq!(cdn_calls(&sim.stats()), 0);
}

/// A CSMS name or version of `.`/`..` (folded out of the URL after signing: the signature would
/// fail, and five failures lock the key the CDN calls use) is refused before any call.
#[tokio::test(start_paused = true)]
async fn dot_segment_names_are_refused_with_no_call() {
    let (sim, _old, _new) = setup().await;
    let h = handler_env(&sim, None, &[]);
    for (source, field) in [
        (
            json!({"type": "huawei_csms", "secret_name": ".."}),
            "secret_name",
        ),
        (
            json!({"type": "huawei_csms", "secret_name": "c", "version": "."}),
            "version",
        ),
        (
            json!({"type": "huawei_obs", "bucket": "..", "prefix": "x/"}),
            "bucket",
        ),
    ] {
        let out = deploy(&h, source.clone()).await;
        let json = out.to_json();
        assert_eq!(
            json["error"]["field"],
            format!("certificate_source.{field}"),
            "{json:#}"
        );
        assert_eq!(out.exit_code, EXIT_INVALID);
    }
    assert_eq!(sim.stats().signed_calls, 0, "no call reached the gateway");
    assert_eq!(sim.stats().auth_failures, 0);
}

/// A 50 MB object under an allowed prefix is refused on its `Content-Length`, before it is read:
/// the function's memory stays bounded whatever a bucket holds.
#[tokio::test(start_paused = true)]
async fn a_huge_store_object_is_refused_without_reading_it() {
    let (sim, _old, new) = setup().await;
    let aws = stand_in().await;
    aws.put_object("my-certs", "live/big/fullchain.pem", &vec![b'A'; 50 << 20]);
    aws.put_object("my-certs", "live/big/privkey.pem", new.key.as_bytes());
    let h = handler_env(&sim, Some(&aws), &[]);
    let out = deploy(
        &h,
        json!({"type": "s3", "bucket": "my-certs", "prefix": "live/big/"}),
    )
    .await;
    let json = out.to_json();
    assert_eq!(json["error"]["reason"], "invalid_content", "{json:#}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("larger than 1 MiB: not read"), "{message}");
    assert_eq!(cdn_calls(&sim.stats()), 0);
}
