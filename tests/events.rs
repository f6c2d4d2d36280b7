//! Every sample in events/ is used: it parses as its consumer reads it.

mod common;

use common::load_event;

use cdn_cert_deploy::cert;
use cdn_cert_deploy::request::{self, CertificateInput, Strictness};
use cdn_cert_deploy::sim::SimConfig;

#[test]
fn the_demo_request_is_valid_and_its_certificate_covers_all_but_one_domain() {
    let (req, unknown) = request::parse(load_event("deploy.json"), Strictness::Strict).unwrap();
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
    let cfg: SimConfig = serde_json::from_value(load_event("sim-demo.json")).unwrap();
    assert_eq!(cfg.domains.len(), 5);
    assert_eq!(cfg.credentials.len(), 1);
}

use cdn_cert_deploy::event::{classify, request_from_body, Envelope, Platform, Trigger};
use serde_json::{json, Value};

/// What an event yields: trigger, request, strictness, webhook style.
type Normalized = (
    Trigger,
    Option<Value>,
    Option<Strictness>,
    Option<&'static str>,
);

/// A sample, where it runs, and what it must yield.
type Case = (
    &'static str,
    Platform,
    Trigger,
    Option<Value>,
    Option<Strictness>,
);

/// The request an event yields: (trigger, request, strictness, webhook); HTTP bodies are read as
/// after authentication; `None` for a schedule that takes `DEPLOY_REQUEST`.
fn normalize(name: &str, platform: Platform) -> Normalized {
    match classify(&load_event(name), platform).unwrap_or_else(|e| panic!("{name}: {e}")) {
        Envelope::Request {
            trigger,
            request,
            strictness,
            webhook,
        } => (trigger, Some(request), Some(strictness), webhook),
        Envelope::Configured { trigger } => (trigger, None, None, None),
        Envelope::Http { trigger, http } => {
            assert_eq!(http.method, "POST", "{name}");
            let (request, webhook) = request_from_body(&http.body).unwrap();
            (trigger, Some(request), Some(Strictness::Strict), webhook)
        }
    }
}

fn demo_pair() -> (Value, Value) {
    let d = load_event("deploy.json");
    (d["certificate"].clone(), d["private_key"].clone())
}

#[test]
fn every_sample_normalizes_to_the_expected_request() {
    let (cert, key) = demo_pair();
    let two = json!(["www.example.com", "img.example.com"]);
    let http_request = json!({"domains": two, "certificate": cert, "private_key": key,
                              "options": {"dry_run": false}});
    let cases: Vec<Case> = vec![
        (
            "deploy.json",
            Platform::Lambda,
            Trigger::Direct,
            Some(load_event("deploy.json")),
            Some(Strictness::Strict),
        ),
        (
            "apigw-v1.json",
            Platform::Lambda,
            Trigger::ApiGatewayV1,
            Some(http_request.clone()),
            Some(Strictness::Strict),
        ),
        (
            "apigw-v2.json",
            Platform::Lambda,
            Trigger::ApiGatewayV2,
            Some(http_request.clone()),
            Some(Strictness::Strict),
        ),
        (
            "function-url.json",
            Platform::Lambda,
            Trigger::FunctionUrl,
            Some(http_request.clone()),
            Some(Strictness::Strict),
        ),
        (
            "functiongraph-apig.json",
            Platform::FunctionGraph,
            Trigger::FunctionGraphApig,
            Some(http_request),
            Some(Strictness::Strict),
        ),
        (
            "eventbridge-schedule.json",
            Platform::Lambda,
            Trigger::EventBridgeSchedule,
            None,
            None,
        ),
        (
            "scheduler.json",
            Platform::Lambda,
            Trigger::Scheduler,
            None,
            None,
        ),
        (
            "functiongraph-timer.json",
            Platform::FunctionGraph,
            Trigger::FunctionGraphTimer,
            Some(json!({"domains": two, "options": {"dry_run": true}})),
            Some(Strictness::Strict),
        ),
        (
            "destination.json",
            Platform::Lambda,
            Trigger::Destination,
            Some(json!({"domains": two,
            "certificate": cert, "private_key": key, "issuer": "Let's Encrypt", "expires": "2027-02-26"})),
            Some(Strictness::Lenient),
        ),
        (
            "step-functions.json",
            Platform::Lambda,
            Trigger::StepFunctions,
            Some(json!({"domains": two,
            "certificate": cert, "private_key": key, "renewed": true})),
            Some(Strictness::Lenient),
        ),
        (
            "certimate.json",
            Platform::Lambda,
            Trigger::Direct,
            Some(json!({"certificate": cert, "private_key": key})),
            Some(Strictness::Strict),
        ),
        (
            "certimate-v02.json",
            Platform::Lambda,
            Trigger::Direct,
            Some(json!({"certificate": cert, "private_key": key})),
            Some(Strictness::Strict),
        ),
        (
            "huawei-credentials.json",
            Platform::Lambda,
            Trigger::Direct,
            Some(load_event("huawei-credentials.json")),
            Some(Strictness::Strict),
        ),
        (
            "certd.json",
            Platform::Lambda,
            Trigger::Direct,
            Some(
                json!({"certificate": cert, "private_key": key, "domains": "www.example.com,img.example.com"}),
            ),
            Some(Strictness::Strict),
        ),
    ];
    for (name, platform, trigger, request, strictness) in cases {
        let got = normalize(name, platform);
        assert_eq!(got.0, trigger, "{name}");
        assert_eq!(got.1, request, "{name}");
        assert_eq!(got.2, strictness, "{name}");
    }
    // Every file in events/ is covered above, or is the simulator's configuration or the
    // workflow's input (tests/workflow.rs).
    let listed = std::fs::read_dir(format!("{}/events", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .count();
    assert_eq!(listed, 14 + 2);
}

#[test]
fn chained_payloads_parse_leniently_with_their_extra_fields_named() {
    for name in ["destination.json", "step-functions.json"] {
        let (_, request, strictness, _) = normalize(name, Platform::Lambda);
        let (req, unknown) = request::parse(request.unwrap(), strictness.unwrap()).unwrap();
        assert_eq!(req.domains, vec!["www.example.com", "img.example.com"]);
        assert!(!unknown.is_empty(), "{name}");
    }
}

#[test]
fn webhook_bodies_name_their_sender() {
    assert_eq!(
        normalize("certimate.json", Platform::Lambda).3,
        Some("certimate")
    );
    assert_eq!(
        normalize("certimate-v02.json", Platform::Lambda).3,
        Some("certimate_v0.2")
    );
    assert_eq!(normalize("certd.json", Platform::Lambda).3, Some("certd"));
    let (req, _) = request::parse(
        normalize("certd.json", Platform::Lambda).1.unwrap(),
        Strictness::Strict,
    )
    .unwrap();
    assert_eq!(req.domains, vec!["www.example.com", "img.example.com"]);
}

#[test]
fn functiongraph_apig_bodies_flagged_base64_may_be_plain_json() {
    let mut e = load_event("functiongraph-apig.json");
    e["body"] = json!("{\"domains\":[\"www.example.com\"]}");
    let Envelope::Http { http, .. } = classify(&e, Platform::FunctionGraph).unwrap() else {
        panic!()
    };
    assert_eq!(
        request_from_body(&http.body).unwrap().0,
        json!({"domains": ["www.example.com"]})
    );
    // On Lambda a body flagged base64 must be base64.
    let mut v1 = load_event("apigw-v1.json");
    v1["isBase64Encoded"] = json!(true);
    v1["body"] = json!("{not base64");
    assert!(classify(&v1, Platform::Lambda).is_err());
}

#[test]
fn unrecognized_shapes_say_what_is_accepted() {
    for bad in [json!("text"), json!([1, 2]), json!(null)] {
        let e = classify(&bad, Platform::Lambda).unwrap_err();
        assert!(e.to_string().contains("API Gateway"), "{e}");
    }
    let e = classify(
        &json!({"detail-type": "Scheduled Event", "source": "custom"}),
        Platform::Lambda,
    )
    .unwrap_err();
    assert!(e.to_string().contains("aws.scheduler"));
    let e = classify(
        &json!({"trigger_type": "TIMER", "user_event": "{oops"}),
        Platform::FunctionGraph,
    )
    .unwrap_err();
    assert!(e.to_string().contains("user_event"));
}
