//! Inputs at the edges, through the whole application as a platform calls it: oversized bodies
//! refused on their size alone, what a certificate-only HTTP caller (the default) may not ask, configuration
//! errors an unauthenticated caller never sees.

mod common;

use std::time::Duration;

use base64::Engine;
use cdn_cert_deploy::app::{App, Context, Reply};
use cdn_cert_deploy::event::Platform;
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "certificate-webhook-token";

fn app(handler: cdn_cert_deploy::handler::Handler) -> App {
    App {
        handler: Ok(handler),
        platform: Platform::FunctionGraph,
        function_name: "hardening".into(),
    }
}

async fn call(app: &App, event: Value) -> Reply {
    app.invoke(
        event,
        Context {
            platform_budget: Duration::from_secs(60),
            received: tokio::time::Instant::now(),
            credentials: None,
        },
    )
    .await
}

/// A FunctionGraph APIG event carrying `body`, with the bearer token.
fn apig(body: &str, base64: bool) -> Value {
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_string()
    };
    json!({"httpMethod": "POST", "path": "/deploy", "isBase64Encoded": base64,
           "headers": {"authorization": format!("Bearer {TOKEN}"), "content-type": "application/json"},
           "body": body})
}

fn status(reply: &Reply) -> u64 {
    reply.body["statusCode"].as_u64().unwrap()
}

fn answer(reply: &Reply) -> Value {
    serde_json::from_str(reply.body["body"].as_str().unwrap()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_oversized_body_is_refused_on_its_size_before_it_is_decoded() {
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let app = app(handler_env(
        &sim,
        &[
            ("DEPLOY_WEBHOOK_TOKEN", TOKEN),
            ("DEPLOY_HTTP_ALLOW", "request"),
        ],
    ));
    // 4 MB of `[0,0,0,…]`, as base64 and as it is; and 1 MiB + 1 byte.
    let zeros = format!("[{}0]", "0,".repeat(2 << 20));
    for event in [
        apig(&zeros, true),
        apig(&zeros, false),
        apig(&"x".repeat(1024 * 1024 + 1), false),
    ] {
        let reply = call(&app, event).await;
        assert_eq!(status(&reply), 413, "{}", reply.body);
    }
    // Exactly 1 MiB of whitespace around a request is not refused for its size.
    let mut body =
        json!({"domains": ["www.example.com"], "options": {"dry_run": true}}).to_string();
    body.push_str(&" ".repeat(1024 * 1024 - body.len()));
    let reply = call(&app, apig(&body, true)).await;
    assert_ne!(status(&reply), 413, "{}", reply.body);
    assert_eq!(sim.stats().signed_calls, 0, "no call for a refused body");
}

#[tokio::test(start_paused = true)]
async fn a_certificate_only_caller_may_not_name_domains_sources_or_options() {
    let cert = example_cert();
    let sim = start(sim_config(vec![
        domain("www.example.com", 100),
        domain("other.example.com", 100),
    ]))
    .await;
    let defaults = json!({"domains": ["www.example.com"]}).to_string();
    let app = app(handler_env(
        &sim,
        &[
            ("DEPLOY_WEBHOOK_TOKEN", TOKEN),
            ("DEPLOY_HTTP_ALLOW", "certificate"),
            ("DEPLOY_REQUEST", &defaults),
        ],
    ));
    let pair = json!({"certificate": cert.chain, "private_key": cert.key});
    for (field, value) in [
        ("domains", json!(["other.example.com"])),
        ("match", json!("certsan")),
        ("scm_certificate_id", json!("scs1700000000000")),
        (
            "certificate_source",
            json!({"type": "secretsmanager", "secret_id": "any"}),
        ),
        ("options", json!({"tls_version": "TLSv1.0"})),
    ] {
        let mut body = pair.clone();
        body[field] = value;
        let reply = call(&app, apig(&body.to_string(), false)).await;
        assert_eq!(status(&reply), 403, "{field}: {}", reply.body);
        let message = answer(&reply)["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(field), "{message}");
    }
    // certd's body with the domains it may add is refused too; without them it deploys.
    let certd = json!({"crt": cert.chain, "key": cert.key, "domains": "other.example.com"});
    assert_eq!(
        status(&call(&app, apig(&certd.to_string(), false)).await),
        403
    );
    assert_eq!(sim.stats().signed_calls, 0, "no call for a refused request");

    let certd = json!({"crt": cert.chain, "key": cert.key});
    let reply = call(&app, apig(&certd.to_string(), false)).await;
    assert_eq!(status(&reply), 200, "{}", reply.body);
    let result = answer(&reply);
    assert_eq!(result["domains"][0]["domain"], "www.example.com");
    assert_eq!(result["domains"].as_array().unwrap().len(), 1);
}

/// Unset `DEPLOY_HTTP_ALLOW` is the narrow mode: a token holder may renew the certificate, not
/// choose the account, the domains or `force`; `request` is the explicit opt-in.
#[tokio::test(start_paused = true)]
async fn unset_http_allow_refuses_accounts_domains_and_force_with_no_call() {
    let cert = example_cert();
    let sim = start(sim_config(vec![
        domain("www.example.com", 100),
        domain("other.example.com", 100),
    ]))
    .await;
    let defaults = json!({"domains": ["www.example.com"]}).to_string();
    let env = [
        ("DEPLOY_WEBHOOK_TOKEN", TOKEN),
        ("DEPLOY_REQUEST", defaults.as_str()),
    ];
    let narrow = app(handler_env(&sim, &env));
    let pair = json!({"certificate": cert.chain, "private_key": cert.key});
    for (field, value) in [
        (
            "huawei_credentials",
            json!({"type": "huawei_csms", "secret_name": "other-account-keys"}),
        ),
        ("domains", json!(["other.example.com"])),
        ("options", json!({"force": true})),
    ] {
        let mut body = pair.clone();
        body[field] = value;
        let reply = call(&narrow, apig(&body.to_string(), false)).await;
        assert_eq!(status(&reply), 403, "{field}: {}", reply.body);
        assert!(answer(&reply)["error"]["message"]
            .as_str()
            .unwrap()
            .contains(field));
    }
    let seen = sim.stats();
    assert_eq!(seen.signed_calls, 0, "no CDN call for a refused request");
    assert!(seen.service_calls.is_empty(), "{:?}", seen.service_calls);

    // With `request` the whole request is the caller's.
    let mut env = env.to_vec();
    env.push(("DEPLOY_HTTP_ALLOW", "request"));
    let whole = app(handler_env(&sim, &env));
    let mut body = pair.clone();
    body["domains"] = json!(["other.example.com"]);
    let reply = call(&whole, apig(&body.to_string(), false)).await;
    assert_eq!(status(&reply), 200, "{}", reply.body);
    assert_eq!(answer(&reply)["domains"][0]["domain"], "other.example.com");
}

#[tokio::test(start_paused = true)]
async fn http_auth_none_never_opens_a_function_with_a_token() {
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let app = app(handler_env(
        &sim,
        &[
            ("DEPLOY_WEBHOOK_TOKEN", TOKEN),
            ("DEPLOY_HTTP_AUTH", "none"),
        ],
    ));
    let mut event = apig(r#"{"domains": ["www.example.com"]}"#, false);
    event["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    assert_eq!(status(&call(&app, event).await), 401);
    assert_eq!(sim.stats().signed_calls, 0);
}

/// Whether a token or a secret is configured, and which check failed, is the log's to say: a
/// caller gets the same 401 for each.
#[tokio::test(start_paused = true)]
async fn every_401_is_the_same_answer_whatever_is_configured() {
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let body = r#"{"certificate": "x", "private_key": "y"}"#;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let unconfigured = app(handler_env(&sim, &[]));
    let token = app(handler_env(&sim, &[("DEPLOY_WEBHOOK_TOKEN", TOKEN)]));
    let secret = app(handler_env(&sim, &[("DEPLOY_WEBHOOK_SECRET", "s3cret")]));
    let with = |headers: &[(&str, String)]| {
        let mut e = apig(body, false);
        e["headers"] = json!({"content-type": "application/json"});
        for (k, v) in headers {
            e["headers"][*k] = json!(v);
        }
        e
    };
    let bearer = ("authorization", format!("Bearer {TOKEN}"));
    let stale = cdn_cert_deploy::http::sign("s3cret", body.as_bytes(), now - 3600);
    let wrong = cdn_cert_deploy::http::sign("other", body.as_bytes(), now);
    let cases = [
        (&unconfigured, with(std::slice::from_ref(&bearer))),
        (&unconfigured, with(&[])),
        (&token, with(&[])),
        (&token, with(&[("authorization", "Bearer wrong".into())])),
        (&secret, with(&[])),
        (&secret, with(&[("x-deploy-signature", stale)])),
        (&secret, with(&[("x-deploy-signature", wrong)])),
        (&secret, with(&[("x-deploy-signature", "t=1".into())])),
        (&secret, with(std::slice::from_ref(&bearer))),
    ];
    let mut bodies = std::collections::BTreeSet::new();
    for (app, event) in cases {
        let reply = call(app, event).await;
        assert_eq!(status(&reply), 401, "{}", reply.body);
        bodies.insert(reply.body.to_string());
    }
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    let only: Value = serde_json::from_str(&bodies.into_iter().next().unwrap()).unwrap();
    let told: Value = serde_json::from_str(only["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        told,
        json!({"ok": false, "error": {"code": "unauthorized", "message": "unauthorized", "retryable": false}})
    );
    assert_eq!(sim.stats().signed_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn a_configuration_error_is_a_bare_500_to_an_http_caller() {
    let app = App {
        handler: Err(cdn_cert_deploy::config::ConfigError {
            variable: "HUAWEICLOUD_CDN_ENDPOINT".into(),
            message: "`http://10.1.2.3:8443/internal` must be https://".into(),
        }),
        platform: Platform::FunctionGraph,
        function_name: "hardening".into(),
    };
    let reply = call(&app, apig("{}", false)).await;
    assert_eq!(status(&reply), 500);
    let text = reply.body.to_string();
    for detail in ["10.1.2.3", "HUAWEICLOUD_CDN_ENDPOINT", "https://"] {
        assert!(!text.contains(detail), "{detail} told: {text}");
    }
    // A direct invocation (authenticated by the platform) is told which variable to fix.
    let reply = call(&app, json!({"domains": ["www.example.com"]})).await;
    assert_eq!(reply.body["error"]["field"], "HUAWEICLOUD_CDN_ENDPOINT");
}
