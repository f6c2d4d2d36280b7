//! Shared test helpers: certificates made on the fly, a simulator with chosen domains, and a
//! handler pointed at it.
#![allow(dead_code)]

pub mod aws;
pub mod runtime_api;
pub mod webhook;

use std::time::Duration;

use cdn_cert_deploy::clock;
use cdn_cert_deploy::config::Config;
use cdn_cert_deploy::deploy::EngineConfig;
use cdn_cert_deploy::handler::{Handler, Invocation, Output};
use cdn_cert_deploy::huawei::cdn::Endpoint;
use cdn_cert_deploy::huawei::credential::{Credentials, Secret};
use cdn_cert_deploy::huawei::quota::Api;
use cdn_cert_deploy::request::Strictness;
use cdn_cert_deploy::sim::{
    ErrorStyle, Fault, FaultKind, SimConfig, SimCredential, SimDomainConfig, SimScmCertificate,
    Simulator,
};
use cdn_cert_deploy::source::SourceConfig;
use cdn_cert_deploy::stores::huawei::StoreConfig;
use cdn_cert_deploy::trust::TrustRoots;
use serde_json::{json, Value};

/// Serves HTTP/1 on `listener` with `handle` until the returned task is aborted; the connections
/// live in the accept task, so aborting it (the fakes do on drop) closes them too. The one
/// pattern every fake on loopback (the AWS stand-in, the webhook receiver, the runtime APIs)
/// shares.
pub fn serve_http<F, Fut>(
    listener: tokio::net::TcpListener,
    handle: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<
            Output = Result<
                hyper::Response<http_body_util::Full<bytes::Bytes>>,
                std::convert::Infallible,
            >,
        > + Send
        + 'static,
{
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            while connections.try_join_next().is_some() {}
            let handle = handle.clone();
            connections.spawn(async move {
                let svc = hyper::service::service_fn(handle);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

pub const AK: &str = "TESTAKEXAMPLE0000000";
pub const SK: &str = "test-secret-key-0123456789abcdef";

/// A certificate chain and its key, as PEM.
#[derive(Clone)]
pub struct TestCert {
    pub chain: String,
    pub key: String,
}

/// A CA made for the tests (rcgen), and its key.
pub struct TestCa {
    pub cert: rcgen::Certificate,
    pub key: rcgen::KeyPair,
}

impl TestCa {
    /// A root CA named `name`, valid from a year ago for ten years.
    pub fn root(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = ca_params(name).self_signed(&key).expect("CA");
        Self { cert, key }
    }

    /// An intermediate CA named `name`, issued by `self`.
    pub fn intermediate(&self, name: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = ca_params(name)
            .signed_by(&key, &self.cert, &self.key)
            .expect("intermediate");
        Self { cert, key }
    }

    /// A leaf for `names`, valid from `from_days` to `to_days` relative to now, issued by
    /// `self`, with `eku` as its extended key usage (none when empty).
    pub fn leaf(
        &self,
        names: &[&str],
        from_days: i64,
        to_days: i64,
        eku: &[rcgen::ExtendedKeyUsagePurpose],
    ) -> TestCert {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = leaf_params(names, from_days, to_days);
        params.extended_key_usages = eku.to_vec();
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("leaf");
        TestCert {
            chain: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }
}

fn ca_params(name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(365);
    params.not_after = now + time::Duration::days(3650);
    params
}

/// A leaf's parameters: `names` as SANs, the first also as the common name.
fn leaf_params(names: &[&str], from_days: i64, to_days: i64) -> rcgen::CertificateParams {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, *first);
    }
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    params
}

/// The CA every test certificate is issued by ([`cert_valid`]); the test handlers trust it
/// through `DEPLOY_TRUST_ROOTS` ([`test_trust_roots`]), as an operator trusts a private CA.
pub static TEST_CA: std::sync::LazyLock<TestCa> =
    std::sync::LazyLock::new(|| TestCa::root("cdn-cert-deploy Test CA"));

/// What the test handlers and binaries are given as `DEPLOY_TRUST_ROOTS`: [`TEST_CA`], and the
/// demo's CA (tests/fixtures/demo-ca.pem), which issued the sample events' leaf.
pub fn test_trust_roots() -> String {
    format!(
        "{}{}",
        TEST_CA.pem(),
        include_str!("../fixtures/demo-ca.pem")
    )
}

/// A certificate for `names` issued by [`TEST_CA`] (the chain is the leaf alone), valid from
/// `from_days` to `to_days` relative to now.
pub fn cert_valid(names: &[&str], from_days: i64, to_days: i64) -> TestCert {
    TEST_CA.leaf(names, from_days, to_days, &[])
}

/// A self-signed certificate for `names`, valid from a day ago for 90 days (trusted by nobody).
pub fn self_signed(names: &[&str]) -> TestCert {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = leaf_params(names, -1, 90).self_signed(&key).expect("cert");
    TestCert {
        chain: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// A certificate for `example.com` and `*.example.com`, valid for 90 days.
pub fn example_cert() -> TestCert {
    cert_valid(&["example.com", "*.example.com"], -1, 90)
}

/// The https block of a domain that serves `cert` (with the given settings).
pub fn serving(cert: &TestCert, http2: &str, tls: &str, ocsp: &str) -> Value {
    json!({
        "https_status": "on", "certificate_name": "old", "certificate_source": 0,
        "certificate_value": cert.chain, "private_key": cert.key,
        "http2_status": http2, "tls_version": tls, "ocsp_stapling_status": ocsp
    })
}

/// An online domain that goes live `configure_ms` after a write.
pub fn domain(name: &str, configure_ms: u64) -> SimDomainConfig {
    SimDomainConfig {
        configure_ms,
        ..SimDomainConfig::new(name)
    }
}

/// A simulator with the test key pair and these domains.
pub fn sim_config(domains: Vec<SimDomainConfig>) -> SimConfig {
    SimConfig {
        credentials: vec![SimCredential {
            ak: AK.into(),
            sk: SK.into(),
            security_token: None,
            denied: Vec::new(),
        }],
        domains,
        ..Default::default()
    }
}

/// The Certificate Manager id the tests use.
pub const SCM_ID: &str = "scs1700000000000";

/// Certificate Manager certificate [`SCM_ID`], issued for `example.com` and `*.example.com`
/// (the names of [`example_cert`]) and valid until 2036.
pub fn scm_example() -> SimScmCertificate {
    SimScmCertificate::new(
        SCM_ID,
        &["example.com", "*.example.com"],
        "2036-11-25T04:11:50Z",
    )
}

pub async fn start(cfg: SimConfig) -> Simulator {
    Simulator::start(cfg).await.expect("simulator starts")
}

pub fn credentials(sk: &str) -> Credentials {
    Credentials {
        access_key: AK.into(),
        secret_key: Secret::new(sk),
        security_token: None,
        domain_id: None,
    }
}

/// A handler signing with `creds` against the simulator.
pub fn handler_with(sim: &Simulator, creds: Credentials) -> Handler {
    Handler {
        config: Config {
            credentials: Some(creds),
            endpoint: Endpoint::parse(&sim.endpoint()).expect("endpoint"),
            default_request: None,
            budget_cap: None,
            http_auth: Default::default(),
            quotas: Default::default(),
            concurrency: None,
            // Certificate Manager is the simulator too (a test must never reach the public one).
            sources: SourceConfig {
                huawei: StoreConfig {
                    scm_endpoint: Some(Endpoint::parse(&sim.endpoint()).expect("endpoint")),
                    ..Default::default()
                },
                ..Default::default()
            },
            notify: Default::default(),
            edge_connect: Default::default(),
            trust_roots: TrustRoots::parse(&test_trust_roots()).expect("test roots"),
            // The simulator answers DNS too: no test asks the real one.
            dns_server: Some(sim.addr()),
            forecast_settle: None,
        },
        clock: clock::system(),
        engine: EngineConfig::default(),
    }
}

/// A handler configured from environment variables, as the function reads them: the simulator's
/// endpoint, the test keys and [`test_trust_roots`], then `extra` (which may override them).
pub fn handler_env(sim: &Simulator, extra: &[(&str, &str)]) -> Handler {
    let mut env: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    env.insert("HUAWEICLOUD_CDN_ENDPOINT".into(), sim.endpoint());
    env.insert("HUAWEICLOUD_SCM_ENDPOINT".into(), sim.endpoint());
    env.insert("HUAWEICLOUD_SDK_AK".into(), AK.into());
    env.insert("HUAWEICLOUD_SDK_SK".into(), SK.into());
    env.insert("DEPLOY_TRUST_ROOTS".into(), test_trust_roots());
    env.insert("DEPLOY_DNS_SERVER".into(), sim.dns_server());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Handler {
        config: Config::from_env(|k| env.get(k).cloned()).expect("config"),
        clock: clock::system(),
        engine: EngineConfig::default(),
    }
}

pub fn handler(sim: &Simulator) -> Handler {
    handler_with(sim, credentials(SK))
}

/// Paces the handler at the documented quotas `scale` times faster in time (the simulator's
/// `quota_time_scale` must match).
pub fn scale_quotas(h: &mut Handler, scale: f64) {
    for api in Api::ALL {
        h.config
            .quotas
            .insert(api.name().into(), api.documented_quota().scaled(scale));
    }
}

/// Runs one request through the handler with `budget`.
pub async fn run(h: &Handler, request: Value, budget: Duration) -> Output {
    h.handle(Invocation {
        request,
        strictness: Strictness::Strict,
        platform_budget: budget,
        received: tokio::time::Instant::now(),
        credentials: None,
    })
    .await
}

/// A deploy request for `domains` with `cert`.
pub fn request(domains: &[&str], cert: &TestCert) -> Value {
    json!({"domains": domains, "certificate": cert.chain, "private_key": cert.key})
}

/// The status of each domain of an output, in order.
pub fn statuses(out: &Output) -> Vec<(String, String)> {
    out.result
        .domains
        .iter()
        .map(|d| (d.domain.clone(), d.status.as_str().to_string()))
        .collect()
}

/// A fault that fires once on `api` (for one domain, or any).
pub fn once(api: Api, domain: Option<&str>, kind: FaultKind) -> Fault {
    Fault {
        api: Some(api.name().into()),
        domain: domain.map(str::to_string),
        skip: 0,
        times: Some(1),
        kind,
    }
}

/// An error answer that fires once on `api` (after applying a write when `apply`).
pub fn error_once(api: Api, http_status: u16, code: &str, style: ErrorStyle, apply: bool) -> Fault {
    once(
        api,
        None,
        FaultKind::Status {
            http_status,
            code: code.into(),
            message: format!("injected {http_status}"),
            style,
            apply,
        },
    )
}

/// Asserts that the only domain of `out` ended `deployed`.
pub fn assert_deployed(out: &Output) {
    let d = &out.result.domains[0];
    assert_eq!(d.status.as_str(), "deployed", "{d:?}");
}

/// A sample event from events/.
pub fn load_event(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A fault of `api` on calls about `domain`, firing `times` times (for ever when `None`).
pub fn fault(api: Api, domain: &str, times: Option<u32>, kind: FaultKind) -> Fault {
    Fault {
        api: Some(api.name().into()),
        domain: Some(domain.into()),
        skip: 0,
        times,
        kind,
    }
}

/// An error answer with this status and code, the write not applied.
pub fn error_status(http_status: u16, code: &str) -> FaultKind {
    FaultKind::Status {
        http_status,
        code: code.into(),
        message: "injected".into(),
        style: Default::default(),
        apply: false,
    }
}
