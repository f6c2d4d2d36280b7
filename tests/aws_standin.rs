//! The AWS stand-in itself: its hand-written SigV4 reproduces the published test suite
//! (tests/vectors/aws-sigv4.json), and its server refuses what the services refuse and answers in
//! their wire formats.

mod common;

use common::aws::sigv4::{self, Signer};
use common::aws::{AwsKeys, AwsStandIn};
use serde::Deserialize;
use serde_json::{json, Value};

// --- The published suite -------------------------------------------------------------------------

#[derive(Deserialize)]
struct Suite {
    source: String,
    access_key: String,
    secret_key: String,
    region: String,
    service: String,
    date: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
    session_token: Option<String>,
    canonical_request: String,
    string_to_sign: String,
    authorization: String,
    /// The token is sent but not signed (post-sts-header-after).
    #[serde(default)]
    omit_session_token: bool,
    /// The path holds characters that are not unreserved (get-utf8, get-space).
    #[serde(default)]
    encode_path_once: bool,
}

fn suite() -> Suite {
    let path = format!(
        "{}/tests/vectors/aws-sigv4.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The signature at the end of an Authorization header.
fn signature_of(authorization: &str) -> &str {
    authorization.rsplit("Signature=").next().unwrap()
}

#[test]
fn the_vectors_file_holds_the_suite_cases_we_rely_on() {
    let s = suite();
    assert!(s.source.contains("aws-sig-v4-test-suite"), "{}", s.source);
    assert_eq!(
        (s.access_key.as_str(), s.region.as_str(), s.service.as_str()),
        ("AKIDEXAMPLE", "us-east-1", "service")
    );
    let names: Vec<&str> = s.vectors.iter().map(|v| v.name.as_str()).collect();
    for wanted in [
        "get-vanilla",
        "get-vanilla-query",
        "get-vanilla-query-order-key-case",
        "get-vanilla-query-unreserved",
        "get-vanilla-utf8-query",
        "get-utf8",
        "get-header-value-trim",
        "get-header-key-duplicate",
        "post-vanilla",
        "post-vanilla-query",
        "post-header-key-sort",
        "post-header-value-case",
        "post-x-www-form-urlencoded",
        "post-x-www-form-urlencoded-parameters",
        "post-sts-header-before",
    ] {
        assert!(names.contains(&wanted), "{wanted} is missing: {names:?}");
    }
    let flagged: Vec<&str> = s
        .vectors
        .iter()
        .filter(|v| v.encode_path_once)
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(flagged, ["get-utf8", "get-space"]);
    let with_token = s
        .vectors
        .iter()
        .find(|v| v.name == "post-sts-header-before")
        .unwrap();
    let token = with_token
        .session_token
        .as_deref()
        .expect("a session token");
    assert!(with_token
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-amz-security-token") && v == token));
}

#[test]
fn the_verifier_reproduces_every_vector() {
    let s = suite();
    let day = &s.date[..8];
    let scope = sigv4::scope(day, &s.region, &s.service);
    assert_eq!(scope, "20150830/us-east-1/service/aws4_request");
    let key = sigv4::signing_key(&s.secret_key, day, &s.region, &s.service);
    for v in &s.vectors {
        // As a server does: the signed names come from the Authorization header.
        let auth = sigv4::parse_authorization(&v.authorization)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            (
                auth.access_key.as_str(),
                auth.date.as_str(),
                auth.region.as_str(),
                auth.service.as_str()
            ),
            (
                s.access_key.as_str(),
                day,
                s.region.as_str(),
                s.service.as_str()
            ),
            "{}",
            v.name
        );
        // The suite's service encodes the path like every non-S3 service.
        let creq = sigv4::canonical_request(
            &v.method,
            &v.path,
            &v.query,
            &v.headers,
            &auth.signed_headers,
            &sigv4::sha256_hex(v.body.as_bytes()),
            true,
        );
        assert_eq!(creq, v.canonical_request, "canonical request of {}", v.name);
        let sts = sigv4::string_to_sign(&s.date, &scope, &creq);
        assert_eq!(sts, v.string_to_sign, "string to sign of {}", v.name);
        let signature = sigv4::signature(&key, &sts);
        assert_eq!(
            signature,
            signature_of(&v.authorization),
            "signature of {}",
            v.name
        );
        assert_eq!(
            sigv4::authorization(&s.access_key, &scope, &auth.signed_headers, &signature),
            v.authorization,
            "authorization of {}",
            v.name
        );
    }
}

#[test]
fn the_test_signer_reproduces_the_vectors() {
    let s = suite();
    for v in &s.vectors {
        // Signed after the fact: the token is on the wire but not signed.
        if v.omit_session_token {
            continue;
        }
        let signer = Signer {
            access_key: &s.access_key,
            secret_key: &s.secret_key,
            session_token: v.session_token.as_deref(),
            region: &s.region,
            service: &s.service,
            amz_date: s.date.clone(),
        };
        let own: Vec<(String, String)> = v
            .headers
            .iter()
            .filter(|(k, _)| {
                !k.eq_ignore_ascii_case("x-amz-date")
                    && !k.eq_ignore_ascii_case("x-amz-security-token")
            })
            .cloned()
            .collect();
        let added = signer.sign(&v.method, &v.path, &v.query, &own, v.body.as_bytes());
        let auth = added
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, a)| a.as_str())
            .unwrap();
        assert_eq!(auth, v.authorization, "{}", v.name);
    }
}

#[test]
fn paths_are_encoded_twice_except_for_s3() {
    use sigv4::canonical_uri;
    // What a client sends for `/ሴ` and `/example space/`.
    assert_eq!(canonical_uri("/%E1%88%B4", true), "/%25E1%2588%25B4");
    assert_eq!(
        canonical_uri("/example%20space/", true),
        "/example%2520space/"
    );
    assert_eq!(canonical_uri("/a/./b/../c//d/", true), "/a/c/d/");
    assert_eq!(canonical_uri("", true), "/");
    // S3: the path once encoded, as sent, not normalized.
    assert_eq!(
        canonical_uri("/my-certs/live/example.com/full%20chain.pem", false),
        "/my-certs/live/example.com/full%20chain.pem"
    );
    assert_eq!(canonical_uri("/b/./x//y", false), "/b/./x//y");
    assert_eq!(canonical_uri("/b/%E1%88%B4", false), "/b/%E1%88%B4");
    // S3 encodes what the client left bare, so the client must sign the encoded form.
    assert_eq!(canonical_uri("/b/a=b!", false), "/b/a%3Db%21");
}

#[test]
fn dates_round_trip() {
    assert_eq!(
        sigv4::parse_amz_date("20150830T123600Z"),
        Some(1_440_938_160)
    );
    assert_eq!(sigv4::amz_date(1_440_938_160), "20150830T123600Z");
    assert_eq!(sigv4::amz_date(951_782_400), "20000229T000000Z");
    assert_eq!(sigv4::parse_amz_date("2015-08-30T12:36:00Z"), None);
    assert_eq!(sigv4::parse_amz_date("20151330T123600Z"), None);
}

// --- The server --------------------------------------------------------------------------------

const REGION: &str = "eu-central-1";

fn keys() -> AwsKeys {
    AwsKeys {
        access_key: "ASIATESTSTANDIN00001".into(),
        secret_key: "aws-secret-key/for+the+stand-in".into(),
        session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE-session-token".into()),
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method path` with `headers` and `body`, signed by `signer` (its `x-amz-*` and
/// `authorization` headers then passed through `tweak`).
async fn send(
    aws: &AwsStandIn,
    signer: &Signer<'_>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    tweak: impl FnOnce(&mut Vec<(String, String)>),
) -> Reply {
    let mut signed: Vec<(String, String)> = vec![("host".to_string(), aws.host())];
    signed.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut added = signer.sign(method, path, &[], &signed, &body);
    tweak(&mut added);
    let client = reqwest::Client::new();
    let mut req = client.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", aws.url),
    );
    for (k, v) in signed.iter().skip(1).chain(added.iter()) {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.body(body).send().await.expect("the stand-in answers");
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

async fn json_call(
    aws: &AwsStandIn,
    signer: &Signer<'_>,
    target: &str,
    body: Value,
    tweak: impl FnOnce(&mut Vec<(String, String)>),
) -> Reply {
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    send(
        aws,
        signer,
        "POST",
        "/",
        &headers,
        body.to_string().into_bytes(),
        tweak,
    )
    .await
}

async fn get_secret(aws: &AwsStandIn, id: &str) -> Reply {
    json_call(
        aws,
        &aws.signer("secretsmanager"),
        "secretsmanager.GetSecretValue",
        json!({"SecretId": id}),
        |_| {},
    )
    .await
}

fn set(headers: &mut [(String, String)], name: &str, value: String) {
    let h = headers.iter_mut().find(|(k, _)| k == name).unwrap();
    h.1 = value;
}

#[tokio::test(start_paused = true)]
async fn a_signed_get_secret_value_gets_the_secret() {
    let aws = AwsStandIn::start(keys(), REGION).await;
    let arn = aws.put_secret("prod/example.com", r#"{"fullchain.pem":"x"}"#);
    assert!(
        arn.starts_with(
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/example.com-"
        ),
        "{arn}"
    );
    assert_eq!(
        arn.len() - arn.rfind('-').unwrap(),
        7,
        "a 6-character suffix"
    );
    let partial = &arn[..arn.rfind('-').unwrap()];
    for id in ["prod/example.com", arn.as_str(), partial] {
        let r = get_secret(&aws, id).await;
        assert_eq!(r.status, 200, "{id}: {}", r.text());
        let v = r.json();
        assert_eq!(v["SecretString"], r#"{"fullchain.pem":"x"}"#);
        assert_eq!(v["ARN"], arn.as_str());
        assert_eq!(v["Name"], "prod/example.com");
        assert_eq!(v["VersionStages"], json!(["AWSCURRENT"]));
        assert!(v["CreatedDate"].as_f64().unwrap() > 1.6e9);
        assert!(r.headers.contains_key("x-amzn-requestid"));
    }
    let calls = aws.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        (
            calls[0].service.as_str(),
            calls[0].action.as_str(),
            calls[0].resource.as_str(),
            calls[0].status
        ),
        ("secretsmanager", "GetSecretValue", "prod/example.com", 200)
    );
    assert_eq!(aws.rejected_signatures(), 0);

    let r = get_secret(&aws, "prod/nope").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"__type": "ResourceNotFoundException",
               "message": "Secrets Manager can't find the specified secret."})
    );
    assert_eq!(
        aws.rejected_signatures(),
        0,
        "a missing secret is no auth failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_tampered_signature_is_refused_and_counted() {
    let aws = AwsStandIn::start(keys(), REGION).await;
    aws.put_secret("s", "v");
    let r = json_call(
        &aws,
        &aws.signer("secretsmanager"),
        "secretsmanager.GetSecretValue",
        json!({"SecretId": "s"}),
        |h| {
            let auth = h
                .iter()
                .find(|(k, _)| k == "authorization")
                .unwrap()
                .1
                .clone();
            let last = auth.chars().last().unwrap();
            let flipped = if last == '0' { '1' } else { '0' };
            set(
                h,
                "authorization",
                format!("{}{flipped}", &auth[..auth.len() - 1]),
            );
        },
    )
    .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["__type"], "InvalidSignatureException");
    assert!(v["message"].as_str().unwrap().starts_with(
        "The request signature we calculated does not match the signature you provided."
    ));
    assert_eq!(aws.rejected_signatures(), 1);
    assert_eq!(aws.calls()[0].status, 400);

    // A body changed after signing is a wrong signature too.
    let signer = aws.signer("secretsmanager");
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "secretsmanager.GetSecretValue"),
    ];
    let mut signed: Vec<(String, String)> = vec![("host".into(), aws.host())];
    signed.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let added = signer.sign("POST", "/", &[], &signed, br#"{"SecretId":"s"}"#);
    let mut req = reqwest::Client::new().post(format!("{}/", aws.url));
    for (k, v) in signed.iter().skip(1).chain(added.iter()) {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.body(r#"{"SecretId":"t"}"#).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(aws.rejected_signatures(), 2);
}

#[tokio::test(start_paused = true)]
async fn wrong_keys_scopes_tokens_and_dates_are_refused() {
    let aws = AwsStandIn::start(keys(), REGION).await;
    aws.put_secret("s", "v");
    let k = keys();
    let target = "secretsmanager.GetSecretValue";
    let body = || json!({"SecretId": "s"});
    let base = |service: &'static str| Signer {
        access_key: &k.access_key,
        secret_key: &k.secret_key,
        session_token: k.session_token.as_deref(),
        region: REGION,
        service,
        amz_date: sigv4::amz_date_now(),
    };

    let other_key = Signer {
        access_key: "AKIAOTHERKEY00000000",
        ..base("secretsmanager")
    };
    let r = json_call(&aws, &other_key, target, body(), |_| {}).await;
    assert_eq!(
        (r.status, r.json()["__type"].clone()),
        (400, json!("UnrecognizedClientException"))
    );

    let wrong_secret = Signer {
        secret_key: "not-the-secret",
        ..base("secretsmanager")
    };
    let r = json_call(&aws, &wrong_secret, target, body(), |_| {}).await;
    assert_eq!(r.json()["__type"], "InvalidSignatureException");

    let other_region = Signer {
        region: "us-east-1",
        ..base("secretsmanager")
    };
    let r = json_call(&aws, &other_region, target, body(), |_| {}).await;
    assert_eq!(r.json()["__type"], "InvalidSignatureException");
    assert!(r.text().contains("region"), "{}", r.text());

    // Signed for SSM, sent to Secrets Manager.
    let r = json_call(&aws, &base("ssm"), target, body(), |_| {}).await;
    assert_eq!(r.json()["__type"], "InvalidSignatureException");
    assert!(r.text().contains("'secretsmanager'"), "{}", r.text());

    let no_token = Signer {
        session_token: None,
        ..base("secretsmanager")
    };
    let r = json_call(&aws, &no_token, target, body(), |_| {}).await;
    assert_eq!(r.json()["__type"], "UnrecognizedClientException");

    let stale = Signer {
        amz_date: sigv4::amz_date(common::aws::unix_now() - 16 * 60),
        ..base("secretsmanager")
    };
    let r = json_call(&aws, &stale, target, body(), |_| {}).await;
    assert_eq!(r.json()["__type"], "InvalidSignatureException");
    assert!(r.text().contains("Signature expired"), "{}", r.text());

    // Valid within the skew.
    let skewed = Signer {
        amz_date: sigv4::amz_date(common::aws::unix_now() - 10 * 60),
        ..base("secretsmanager")
    };
    let r = json_call(&aws, &skewed, target, body(), |_| {}).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(aws.rejected_signatures(), 6);
}

#[tokio::test(start_paused = true)]
async fn s3_needs_a_content_hash_and_answers_in_xml() {
    let aws = AwsStandIn::start(keys(), REGION).await;
    aws.put_object("my-certs", "live/example.com/full chain.pem", b"PEM BYTES");
    let path = "/my-certs/live/example.com/full%20chain.pem";
    let r = send(
        &aws,
        &aws.signer("s3"),
        "GET",
        path,
        &[],
        Vec::new(),
        |_| {},
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"PEM BYTES");
    assert!(r.headers.contains_key("etag"));
    assert!(r.headers.contains_key("x-amz-request-id"));
    let call = aws.calls()[0].clone();
    assert_eq!(
        (
            call.service.as_str(),
            call.action.as_str(),
            call.resource.as_str()
        ),
        (
            "s3",
            "GetObject",
            "my-certs/live/example.com/full chain.pem"
        )
    );

    // Signed by hand, to choose the payload header: UNSIGNED-PAYLOAD, none, a wrong hash.
    let signer = aws.signer("s3");
    let day = signer.amz_date[..8].to_string();
    let k = keys();
    let sign_with = |payload: Option<&str>| -> Vec<(String, String)> {
        let mut headers = vec![
            ("host".to_string(), aws.host()),
            ("x-amz-date".to_string(), signer.amz_date.clone()),
            (
                "x-amz-security-token".to_string(),
                k.session_token.clone().unwrap(),
            ),
        ];
        if let Some(p) = payload {
            headers.push(("x-amz-content-sha256".to_string(), p.to_string()));
        }
        let names: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
        let creq = sigv4::canonical_request(
            "GET",
            path,
            &[],
            &headers,
            &names,
            payload.unwrap_or(sigv4::UNSIGNED_PAYLOAD),
            false,
        );
        let scope = sigv4::scope(&day, REGION, "s3");
        let sts = sigv4::string_to_sign(&signer.amz_date, &scope, &creq);
        let key = sigv4::signing_key(&k.secret_key, &day, REGION, "s3");
        let auth =
            sigv4::authorization(&k.access_key, &scope, &names, &sigv4::signature(&key, &sts));
        headers.push(("authorization".to_string(), auth));
        headers.remove(0);
        headers
    };
    let get = |headers: Vec<(String, String)>| {
        let mut req = reqwest::Client::new().get(format!("{}{path}", aws.url));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let r = get(sign_with(Some(sigv4::UNSIGNED_PAYLOAD))).await.unwrap();
    assert_eq!(r.status(), 200);

    // Without x-amz-content-sha256: refused.
    let r = get(sign_with(None)).await.unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("<Code>InvalidRequest</Code>"), "{text}");
    assert!(text.contains("x-amz-content-sha256"), "{text}");
    assert_eq!(aws.rejected_signatures(), 1);

    // A hash that is not the body's.
    let r = get(sign_with(Some(&sigv4::sha256_hex(b"something else"))))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("XAmzContentSHA256Mismatch"));

    // The payload header changed after signing: SignatureDoesNotMatch, 403, XML.
    let swap_hash = |h: &mut Vec<(String, String)>| {
        set(h, "x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD.into());
    };
    let r = send(
        &aws,
        &aws.signer("s3"),
        "GET",
        path,
        &[],
        Vec::new(),
        swap_hash,
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        r.text()
    );
    assert_eq!(aws.rejected_signatures(), 3);

    // Missing key, missing bucket.
    let r = send(
        &aws,
        &aws.signer("s3"),
        "GET",
        "/my-certs/nope.pem",
        &[],
        Vec::new(),
        |_| {},
    )
    .await;
    assert_eq!(r.status, 404);
    let text = r.text();
    assert!(
        text.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
                          <Message>The specified key does not exist.</Message><Key>nope.pem</Key>"
        ),
        "{text}"
    );
    assert!(text.contains("<RequestId>") && text.contains("<HostId>"));
    let r = send(
        &aws,
        &aws.signer("s3"),
        "GET",
        "/no-bucket/x.pem",
        &[],
        Vec::new(),
        |_| {},
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<Code>NoSuchBucket</Code>"));

    // A wrong key id.
    let other = Signer {
        access_key: "AKIAOTHERKEY00000000",
        ..aws.signer("s3")
    };
    let r = send(&aws, &other, "GET", path, &[], Vec::new(), |_| {}).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<Code>InvalidAccessKeyId</Code>"));
}

#[tokio::test(start_paused = true)]
async fn denied_resources_get_access_denied() {
    let aws = AwsStandIn::start(keys(), REGION).await;
    aws.put_secret("prod/key", "v");
    aws.put_parameter("/certs/privkey.pem", "KEY", true);
    aws.put_object("my-certs", "live/privkey.pem", b"KEY");
    aws.deny("prod/key");
    aws.deny("/certs/privkey.pem");
    aws.deny("my-certs/live/privkey.pem");

    let r = get_secret(&aws, "prod/key").await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["__type"], "AccessDeniedException");
    assert_eq!(
        v["Message"],
        "User: arn:aws:sts::123456789012:assumed-role/cdn-cert-deploy/fn is not authorized to \
         perform: secretsmanager:GetSecretValue on resource: prod/key because no identity-based \
         policy allows the secretsmanager:GetSecretValue action"
    );

    let r = json_call(
        &aws,
        &aws.signer("ssm"),
        "AmazonSSM.GetParameter",
        json!({"Name": "/certs/privkey.pem", "WithDecryption": true}),
        |_| {},
    )
    .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["__type"], "AccessDeniedException");
    assert!(
        v["message"].as_str().unwrap().contains("ssm:GetParameter"),
        "{v}"
    );

    let r = send(
        &aws,
        &aws.signer("s3"),
        "GET",
        "/my-certs/live/privkey.pem",
        &[],
        Vec::new(),
        |_| {},
    )
    .await;
    assert_eq!(r.status, 403);
    let text = r.text();
    assert!(
        text.contains("<Code>AccessDenied</Code><Message>Access Denied</Message>"),
        "{text}"
    );
    assert_eq!(
        aws.rejected_signatures(),
        0,
        "a denial is no signature failure"
    );
    let statuses: Vec<u16> = aws.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![400, 400, 403]);
}

#[tokio::test(start_paused = true)]
async fn ssm_decrypts_only_when_asked() {
    let aws = AwsStandIn::start(keys(), REGION).await;
    aws.put_parameter("/certs/fullchain.pem", "CHAIN", false);
    aws.put_parameter("/certs/privkey.pem", "KEY", true);
    let get = |name: &'static str, decrypt: bool| {
        let aws = &aws;
        async move {
            json_call(
                aws,
                &aws.signer("ssm"),
                "AmazonSSM.GetParameter",
                json!({"Name": name, "WithDecryption": decrypt}),
                |_| {},
            )
            .await
        }
    };
    let r = get("/certs/privkey.pem", true).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = &r.json()["Parameter"];
    assert_eq!(p["Value"], "KEY");
    assert_eq!(p["Type"], "SecureString");
    assert_eq!(p["Version"], 1);
    assert_eq!(p["DataType"], "text");
    assert_eq!(
        p["ARN"],
        "arn:aws:ssm:eu-central-1:123456789012:parameter/certs/privkey.pem"
    );

    let r = get("/certs/privkey.pem", false).await;
    let value = r.json()["Parameter"]["Value"].as_str().unwrap().to_string();
    assert_ne!(value, "KEY");
    assert!(value.starts_with("AQICAH"), "{value}");

    let r = get("/certs/fullchain.pem", false).await;
    assert_eq!(r.json()["Parameter"]["Value"], "CHAIN");
    assert_eq!(r.json()["Parameter"]["Type"], "String");

    let r = get("/certs/nope", true).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"__type": "ParameterNotFound"}));
    assert_eq!(aws.rejected_signatures(), 0);
}

#[tokio::test(start_paused = true)]
async fn env_points_a_client_at_the_stand_in() {
    let aws = AwsStandIn::start(keys(), REGION).await;
    let env = aws.env();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("AWS_ACCESS_KEY_ID").unwrap(), "ASIATESTSTANDIN00001");
    assert_eq!(
        get("AWS_SECRET_ACCESS_KEY").unwrap(),
        "aws-secret-key/for+the+stand-in"
    );
    assert_eq!(
        get("AWS_SESSION_TOKEN").unwrap(),
        "IQoJb3JpZ2luX2VjEXAMPLE-session-token"
    );
    assert_eq!(get("AWS_REGION").unwrap(), REGION);
    assert_eq!(get("AWS_ENDPOINT_URL").unwrap(), aws.url);
    assert!(aws.url.starts_with("http://127.0.0.1:"));
}
