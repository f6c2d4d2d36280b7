//! A stand-in for the AWS stores a certificate source reads (Secrets Manager `GetSecretValue`,
//! SSM `GetParameter`, S3 `GetObject`) on 127.0.0.1. It checks every request as the services do,
//! with its own SigV4 verifier (`sigv4` below, written from the specification and checked against
//! the published test suite in tests/vectors/aws-sigv4.json), and answers in the services' wire
//! formats: the JSON 1.1 protocol (`POST /` with `X-Amz-Target`) and S3's REST XML.
//!
//! One endpoint serves all three: `POST /` with an `X-Amz-Target` goes to the JSON service it
//! names, anything else is path-style S3 (`GET /<bucket>/<key>`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// The account every ARN of the stand-in is in.
pub const ACCOUNT: &str = "123456789012";
/// The caller named in AccessDenied messages.
pub const CALLER: &str = "arn:aws:sts::123456789012:assumed-role/cdn-cert-deploy/fn";
/// How far `X-Amz-Date` may be from the stand-in's clock, as AWS allows.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// SigV4 as the services compute it, by hand: canonical request, string to sign, signing key,
/// signature; plus parsing of the `Authorization` header and a small signer for test clients.
pub mod sigv4 {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
    /// The `x-amz-content-sha256` value of an S3 request whose body is not signed.
    pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

    /// Hex SHA-256 of `data`.
    pub fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// SigV4's URI encoding of bytes: everything but `A-Za-z0-9-._~` as `%XX` (upper-case hex),
    /// and `/` too unless `encode_slash` is false.
    pub fn uri_encode_bytes(data: &[u8], encode_slash: bool) -> String {
        let mut out = String::with_capacity(data.len());
        for &b in data {
            let keep = b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'_' | b'~')
                || (b == b'/' && !encode_slash);
            if keep {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// [`uri_encode_bytes`] of a string's UTF-8.
    pub fn uri_encode(s: &str, encode_slash: bool) -> String {
        uri_encode_bytes(s.as_bytes(), encode_slash)
    }

    /// Percent-decoding (`%XX` only; a `%` not followed by two hex digits stays as it is, and so
    /// does `+`).
    pub fn percent_decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        out
    }

    /// The path with dot segments removed and empty segments merged (RFC 3986 normalization as
    /// SigV4 does it for every service but S3); a trailing slash is kept.
    pub fn normalize_path(path: &str) -> String {
        let mut segments: Vec<&str> = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        let mut out = format!("/{}", segments.join("/"));
        let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
        if trailing && out != "/" {
            out.push('/');
        }
        out
    }

    /// The canonical URI. Every service but S3 (`double_encode_path`): the path normalized and
    /// each segment URI-encoded, as it is given, so a path already percent-encoded on the wire
    /// is encoded a second time (`%` becomes `%25`). S3: not normalized, and encoded once: the
    /// path is decoded and encoded again, so a client must sign the fully encoded form.
    pub fn canonical_uri(path: &str, double_encode_path: bool) -> String {
        if double_encode_path {
            normalize_path(path)
                .split('/')
                .map(|s| uri_encode(s, true))
                .collect::<Vec<_>>()
                .join("/")
        } else {
            let encoded = uri_encode_bytes(&percent_decode(path), false);
            if encoded.is_empty() {
                "/".to_string()
            } else {
                encoded
            }
        }
    }

    /// The canonical query string of decoded pairs: each name and value URI-encoded, sorted by
    /// name then value, joined by `&`.
    pub fn canonical_query(query_pairs: &[(String, String)]) -> String {
        let mut pairs: Vec<(String, String)> = query_pairs
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The signed header names as SigV4 lists them: lower-case, sorted, without repeats.
    pub fn signed_header_list<S: AsRef<str>>(names: &[S]) -> Vec<String> {
        let mut names: Vec<String> = names
            .iter()
            .map(|n| n.as_ref().trim().to_ascii_lowercase())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// A header value as SigV4 signs it: trimmed, runs of white space made one space.
    pub fn canonical_header_value(value: &str) -> String {
        value.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The canonical request:
    /// `METHOD\nURI\nQUERY\nname:value\n...\n\nsigned;names\nPAYLOAD_HASH`.
    /// `headers` are all the request's headers in order (names in any case); only those named in
    /// `signed_header_names` are taken, repeated ones joined by `,` in the order given.
    pub fn canonical_request<S: AsRef<str>>(
        method: &str,
        path: &str,
        query_pairs: &[(String, String)],
        headers: &[(String, String)],
        signed_header_names: &[S],
        payload_hash_hex: &str,
        double_encode_path: bool,
    ) -> String {
        let signed = signed_header_list(signed_header_names);
        let mut canonical_headers = String::new();
        for name in &signed {
            let values: Vec<String> = headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| canonical_header_value(v))
                .collect();
            canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            method.to_ascii_uppercase(),
            canonical_uri(path, double_encode_path),
            canonical_query(query_pairs),
            canonical_headers,
            signed.join(";"),
            payload_hash_hex
        )
    }

    /// `yyyymmdd/region/service/aws4_request`.
    pub fn scope(date: &str, region: &str, service: &str) -> String {
        format!("{date}/{region}/{service}/aws4_request")
    }

    /// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of the canonical request>`.
    pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
        format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        )
    }

    /// HMAC chain `AWS4<secret>` → date → region → service → `aws4_request`.
    pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        hmac(&k_service, b"aws4_request")
    }

    /// Hex HMAC of the string to sign with the signing key.
    pub fn signature(signing_key: &[u8], string_to_sign: &str) -> String {
        hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
    }

    /// `AWS4-HMAC-SHA256 Credential=<ak>/<scope>, SignedHeaders=<a;b>, Signature=<hex>`.
    pub fn authorization<S: AsRef<str>>(
        access_key: &str,
        scope: &str,
        signed_header_names: &[S],
        signature: &str,
    ) -> String {
        format!(
            "{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={}, Signature={signature}",
            signed_header_list(signed_header_names).join(";")
        )
    }

    /// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ParsedAuthorization {
        pub access_key: String,
        pub date: String,
        pub region: String,
        pub service: String,
        /// As sent (SigV4 requires them lower-case and sorted).
        pub signed_headers: Vec<String>,
        pub signature: String,
    }

    /// Parses an `Authorization` header; the error says what is wrong, as AWS's
    /// IncompleteSignatureException messages do.
    pub fn parse_authorization(header: &str) -> Result<ParsedAuthorization, String> {
        let header = header.trim();
        let rest = header
            .strip_prefix(ALGORITHM)
            .filter(|r| r.starts_with(' '))
            .ok_or_else(|| {
                format!("Unsupported Authorization Type (expected {ALGORITHM}): {header}")
            })?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let part = part.trim();
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!(
                    "Authorization header requires each component to be of the form key=value. \
                     Authorization={header}"
                ));
            };
            match k {
                "Credential" => credential = Some(v.to_string()),
                "SignedHeaders" => signed = Some(v.to_string()),
                "Signature" => signature = Some(v.to_string()),
                _ => {}
            }
        }
        let missing = |what: &str| {
            format!("Authorization header requires '{what}' parameter. Authorization={header}")
        };
        let credential = credential.ok_or_else(|| missing("Credential"))?;
        let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("Signature"))?;
        let parts: Vec<&str> = credential.split('/').collect();
        if parts.len() != 5 || parts[4] != "aws4_request" || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "Credential should be scoped to a valid region, a service and `aws4_request` \
                 (<key>/<yyyymmdd>/<region>/<service>/aws4_request); got '{credential}'"
            ));
        }
        if signed.is_empty() {
            return Err(missing("SignedHeaders"));
        }
        Ok(ParsedAuthorization {
            access_key: parts[0].to_string(),
            date: parts[1].to_string(),
            region: parts[2].to_string(),
            service: parts[3].to_string(),
            signed_headers: signed.split(';').map(str::to_string).collect(),
            signature,
        })
    }

    /// Unix seconds of an ISO 8601 basic date-time (`20150830T123600Z`).
    pub fn parse_amz_date(s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let t = s.get(r)?;
            if !t.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            t.parse().ok()
        };
        let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
    }

    /// `yyyymmddThhmmssZ` of unix seconds.
    pub fn amz_date(unix_secs: i64) -> String {
        let days = unix_secs.div_euclid(86_400);
        let secs = unix_secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    /// [`amz_date`] of now.
    pub fn amz_date_now() -> String {
        amz_date(super::unix_now())
    }

    // Howard Hinnant's civil-date algorithms.
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (
            if m <= 2 {
                yoe + era * 400 + 1
            } else {
                yoe + era * 400
            },
            m,
            d,
        )
    }

    /// What a test client signs with.
    #[derive(Debug, Clone)]
    pub struct Signer<'a> {
        pub access_key: &'a str,
        pub secret_key: &'a str,
        pub session_token: Option<&'a str>,
        pub region: &'a str,
        /// `secretsmanager`, `ssm`, `s3`: S3 encodes the path once and sends
        /// `x-amz-content-sha256`.
        pub service: &'a str,
        pub amz_date: String,
    }

    impl Signer<'_> {
        /// The headers to add to a request (`x-amz-date`, `x-amz-security-token` with a token,
        /// `x-amz-content-sha256` for S3, `authorization`), signing every header in `headers`
        /// (which must hold `host`) and the added ones. `path` is as sent on the wire.
        pub fn sign(
            &self,
            method: &str,
            path: &str,
            query_pairs: &[(String, String)],
            headers: &[(String, String)],
            body: &[u8],
        ) -> Vec<(String, String)> {
            let s3 = self.service == "s3";
            let payload = sha256_hex(body);
            let mut added = vec![("x-amz-date".to_string(), self.amz_date.clone())];
            if let Some(token) = self.session_token {
                added.push(("x-amz-security-token".to_string(), token.to_string()));
            }
            if s3 {
                added.push(("x-amz-content-sha256".to_string(), payload.clone()));
            }
            let all: Vec<(String, String)> = headers.iter().chain(added.iter()).cloned().collect();
            let names: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
            let creq = canonical_request(method, path, query_pairs, &all, &names, &payload, !s3);
            let scope = scope(&self.amz_date[..8], self.region, self.service);
            let sts = string_to_sign(&self.amz_date, &scope, &creq);
            let key = signing_key(
                self.secret_key,
                &self.amz_date[..8],
                self.region,
                self.service,
            );
            let auth = authorization(self.access_key, &scope, &names, &signature(&key, &sts));
            added.push(("authorization".to_string(), auth));
            added
        }
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The key pair (and session token, for temporary keys) the stand-in accepts.
#[derive(Debug, Clone)]
pub struct AwsKeys {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

/// A request the stand-in answered (also the ones it refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCall {
    /// `secretsmanager`, `ssm`, `s3` (or `unknown`).
    pub service: String,
    /// `GetSecretValue`, `GetParameter`, `GetObject` (or whatever was asked).
    pub action: String,
    /// The secret id or parameter name as sent, or `bucket/key`.
    pub resource: String,
    pub status: u16,
}

/// A message SNS took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
}

struct StoredSecret {
    name: String,
    arn: String,
    version_id: String,
    value: String,
    created: f64,
}

struct StoredParameter {
    value: String,
    secure: bool,
    version: u64,
    modified: f64,
}

#[derive(Default)]
struct State {
    secrets: Vec<StoredSecret>,
    parameters: HashMap<String, StoredParameter>,
    buckets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    denied: HashSet<String>,
    topics: HashSet<String>,
    published: Vec<Published>,
    calls: Vec<AwsCall>,
    rejected: usize,
    next_id: u64,
}

struct Shared {
    keys: AwsKeys,
    region: String,
    state: Mutex<State>,
}

/// A running stand-in; stops when dropped.
pub struct AwsStandIn {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl AwsStandIn {
    /// Starts a stand-in that accepts `keys` for `region`.
    pub async fn start(keys: AwsKeys, region: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            keys,
            region: region.to_string(),
            state: Mutex::new(State::default()),
        });
        let s = shared.clone();
        let task = super::serve_http(listener, move |req| serve(s.clone(), req));
        Self { url, shared, task }
    }

    /// `127.0.0.1:<port>`, the `Host` a client sends.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    pub fn keys(&self) -> &AwsKeys {
        &self.shared.keys
    }

    pub fn region(&self) -> &str {
        &self.shared.region
    }

    /// Stores (or replaces, as a new version) a secret; returns its ARN.
    pub fn put_secret(&self, name: &str, secret_string: &str) -> String {
        let arn = format!(
            "arn:aws:secretsmanager:{}:{ACCOUNT}:secret:{name}-{}",
            self.shared.region,
            arn_suffix(name)
        );
        let mut st = self.shared.state.lock().unwrap();
        st.next_id += 1;
        let version_id = uuid_like(st.next_id, name);
        let created = 1_700_000_000.0 + st.next_id as f64 + 0.125;
        st.secrets.retain(|s| s.name != name);
        st.secrets.push(StoredSecret {
            name: name.to_string(),
            arn: arn.clone(),
            version_id,
            value: secret_string.to_string(),
            created,
        });
        arn
    }

    /// Stores (or replaces, with the next version) an SSM parameter; `secure` makes it a
    /// SecureString.
    pub fn put_parameter(&self, name: &str, value: &str, secure: bool) {
        let mut st = self.shared.state.lock().unwrap();
        st.next_id += 1;
        let modified = 1_700_000_000.0 + st.next_id as f64 + 0.5;
        let version = st.parameters.get(name).map_or(1, |p| p.version + 1);
        st.parameters.insert(
            name.to_string(),
            StoredParameter {
                value: value.to_string(),
                secure,
                version,
                modified,
            },
        );
    }

    /// Stores an object (creating the bucket).
    pub fn put_object(&self, bucket: &str, key: &str, body: &[u8]) {
        let mut st = self.shared.state.lock().unwrap();
        st.buckets
            .entry(bucket.to_string())
            .or_default()
            .insert(key.to_string(), body.to_vec());
    }

    /// Answers AccessDenied for `resource`: a secret name, a parameter name, `bucket/key` (or a
    /// whole `bucket`).
    pub fn deny(&self, resource: &str) {
        let mut st = self.shared.state.lock().unwrap();
        st.denied.insert(resource.to_string());
    }

    /// Creates an SNS topic; returns its ARN.
    pub fn create_topic(&self, name: &str) -> String {
        let arn = format!("arn:aws:sns:{}:{ACCOUNT}:{name}", self.shared.region);
        self.shared.state.lock().unwrap().topics.insert(arn.clone());
        arn
    }

    /// The SNS messages published so far, in order.
    pub fn published(&self) -> Vec<Published> {
        self.shared.state.lock().unwrap().published.clone()
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.shared.state.lock().unwrap().calls.clone()
    }

    /// Requests refused for their authentication: a wrong signature, key, token, scope, date or
    /// payload hash, or a missing or malformed `Authorization`.
    pub fn rejected_signatures(&self) -> usize {
        self.shared.state.lock().unwrap().rejected
    }

    /// The variables that point an AWS client at the stand-in: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (with a token), `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`.
    pub fn env(&self) -> Vec<(String, String)> {
        let keys = &self.shared.keys;
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), keys.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), keys.secret_key.clone()),
        ];
        if let Some(token) = &keys.session_token {
            env.push(("AWS_SESSION_TOKEN".to_string(), token.clone()));
        }
        env.push(("AWS_REGION".to_string(), self.shared.region.clone()));
        env.push(("AWS_ENDPOINT_URL".to_string(), self.url.clone()));
        env
    }

    /// A signer with the stand-in's keys for `service`, dated now.
    pub fn signer(&self, service: &'static str) -> sigv4::Signer<'_> {
        let keys = &self.shared.keys;
        sigv4::Signer {
            access_key: &keys.access_key,
            secret_key: &keys.secret_key,
            session_token: keys.session_token.as_deref(),
            region: &self.shared.region,
            service,
            amz_date: sigv4::amz_date_now(),
        }
    }
}

impl Drop for AwsStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Six letters and digits from the name, like the random suffix of a secret's ARN.
fn arn_suffix(name: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let digest = sigv4::sha256_hex(name.as_bytes());
    digest
        .as_bytes()
        .chunks(2)
        .take(6)
        .map(|c| {
            let v = u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap();
            ALPHABET[v as usize % ALPHABET.len()] as char
        })
        .collect()
}

fn uuid_like(n: u64, salt: &str) -> String {
    let h = sigv4::sha256_hex(format!("{n}/{salt}").as_bytes());
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

// ---------------------------------------------------------------------------------------------
// Serving

type Answer = Response<Full<Bytes>>;

/// The service a request was dispatched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    SecretsManager,
    Ssm,
    S3,
    Sns,
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "ssm",
            Service::S3 => "s3",
            Service::Sns => "sns",
        }
    }
}

/// An error answer, shaped per service.
struct Failure {
    status: u16,
    code: &'static str,
    message: String,
    /// Secrets Manager's IAM AccessDenied says `Message`; the rest `message`.
    capital_message: bool,
    /// S3: extra elements after `<Message>`.
    extra: Vec<(&'static str, String)>,
    /// JSON services: no message at all (SSM's ParameterNotFound).
    no_message: bool,
}

impl Failure {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            capital_message: false,
            extra: Vec::new(),
            no_message: false,
        }
    }
}

struct Incoming {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    let Some(raw) = raw.filter(|q| !q.is_empty()) else {
        return Vec::new();
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| String::from_utf8_lossy(&sigv4::percent_decode(s)).into_owned();
            (dec(k), dec(v))
        })
        .collect()
}

async fn serve(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<Answer, std::convert::Infallible> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let inc = Incoming {
        method,
        path,
        query,
        headers,
        body,
    };
    let request_id = {
        let mut st = shared.state.lock().unwrap();
        st.next_id += 1;
        uuid_like(st.next_id, "request")
    };
    let target = inc.header("x-amz-target").map(str::to_string);
    let answer = match (inc.method.as_str(), inc.path.as_str(), target) {
        ("POST", "/", Some(target)) => serve_json(&shared, &inc, &target, &request_id),
        ("POST", "/", None)
            if inc
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) =>
        {
            serve_sns(&shared, &inc, &request_id)
        }
        _ => serve_s3(&shared, &inc, &request_id),
    };
    Ok(answer)
}

fn record(shared: &Shared, service: &str, action: &str, resource: &str, status: u16) {
    shared.state.lock().unwrap().calls.push(AwsCall {
        service: service.to_string(),
        action: action.to_string(),
        resource: resource.to_string(),
        status,
    });
}

/// Checks the request's SigV4 as `service` would. Counts a refusal.
fn authenticate(shared: &Shared, inc: &Incoming, service: Service) -> Result<(), Failure> {
    let result = check_signature(shared, inc, service);
    if result.is_err() {
        shared.state.lock().unwrap().rejected += 1;
    }
    result
}

fn check_signature(shared: &Shared, inc: &Incoming, service: Service) -> Result<(), Failure> {
    let s3 = service == Service::S3;
    let keys = &shared.keys;
    let region = &shared.region;
    // Error constructors in the service's own words.
    let incomplete = |msg: String| {
        if s3 {
            Failure::new(400, "AuthorizationHeaderMalformed", msg)
        } else {
            Failure::new(400, "IncompleteSignatureException", msg)
        }
    };
    let invalid = |msg: String| {
        if s3 {
            Failure::new(400, "AuthorizationHeaderMalformed", msg)
        } else {
            Failure::new(400, "InvalidSignatureException", msg)
        }
    };
    let bad_token = || {
        if s3 {
            Failure::new(
                400,
                "InvalidToken",
                "The provided token is malformed or otherwise invalid.",
            )
        } else {
            Failure::new(
                400,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        }
    };

    let Some(header) = inc.header("authorization") else {
        return Err(if s3 {
            Failure::new(403, "AccessDenied", "Access Denied")
        } else {
            Failure::new(
                400,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )
        });
    };
    let auth = sigv4::parse_authorization(header).map_err(&incomplete)?;

    if auth.access_key != keys.access_key {
        return Err(if s3 {
            let mut f = Failure::new(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            );
            f.extra.push(("AWSAccessKeyId", auth.access_key.clone()));
            f
        } else {
            Failure::new(
                400,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        });
    }

    // Temporary keys come with their token; permanent ones with none.
    let sent_token = inc.header("x-amz-security-token");
    match (&keys.session_token, sent_token) {
        (Some(expected), Some(sent)) if expected == sent => {}
        (None, None) => {}
        (Some(_), None) if s3 => {
            let mut f = Failure::new(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            );
            f.extra.push(("AWSAccessKeyId", auth.access_key.clone()));
            return Err(f);
        }
        _ => return Err(bad_token()),
    }

    if &auth.region != region {
        return Err(if s3 {
            let mut f = Failure::new(
                400,
                "AuthorizationHeaderMalformed",
                format!(
                    "The authorization header is malformed; the region '{}' is wrong; \
                     expecting '{region}'",
                    auth.region
                ),
            );
            f.extra.push(("Region", region.clone()));
            f
        } else {
            Failure::new(
                400,
                "InvalidSignatureException",
                format!(
                    "Credential should be scoped to a valid region. (got '{}', expecting '{region}')",
                    auth.region
                ),
            )
        });
    }
    let expected_service = service.signing_name();
    if auth.service != expected_service {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{expected_service}'. "
        )));
    }

    let signed: Vec<String> = auth.signed_headers.clone();
    let is_signed = |name: &str| signed.iter().any(|h| h == name);
    if signed != sigv4::signed_header_list(&signed) {
        return Err(incomplete(format!(
            "SignedHeaders must be lower-case, sorted and separated by ';': '{}'",
            signed.join(";")
        )));
    }
    if !is_signed("host") {
        return Err(invalid(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    for name in &signed {
        if inc.header(name).is_none() {
            return Err(invalid(format!(
                "The request signature names '{name}' in SignedHeaders, but the request has no such header."
            )));
        }
    }
    let Some(amz_date) = inc.header("x-amz-date") else {
        return Err(if s3 {
            Failure::new(
                403,
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        } else {
            Failure::new(
                400,
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        });
    };
    if !is_signed("x-amz-date") {
        return Err(invalid(
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let Some(when) = sigv4::parse_amz_date(amz_date) else {
        return Err(incomplete(format!(
            "X-Amz-Date must be in ISO 8601 basic format (yyyyMMddTHHmmssZ); got '{amz_date}'"
        )));
    };
    let now = unix_now();
    if (when - now).abs() > MAX_SKEW_SECS {
        return Err(if s3 {
            let mut f = Failure::new(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            );
            f.extra.push(("RequestTime", amz_date.to_string()));
            f.extra.push(("ServerTime", sigv4::amz_date(now)));
            f.extra
                .push(("MaxAllowedSkewMilliseconds", "900000".into()));
            f
        } else {
            Failure::new(
                400,
                "InvalidSignatureException",
                format!(
                    "Signature expired: {amz_date} is now earlier or later than {} \
                     ({} +/- 15 min.)",
                    sigv4::amz_date(now - MAX_SKEW_SECS),
                    sigv4::amz_date(now)
                ),
            )
        });
    }
    if amz_date[..8] != auth.date {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8]
        )));
    }

    // The payload hash: S3 takes the client's word (checked against the body), the JSON
    // services hash the body themselves.
    let payload_hash = if s3 {
        let Some(claimed) = inc.header("x-amz-content-sha256") else {
            return Err(Failure::new(
                400,
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
            ));
        };
        let actual = sigv4::sha256_hex(&inc.body);
        if claimed != sigv4::UNSIGNED_PAYLOAD && !claimed.eq_ignore_ascii_case(&actual) {
            let mut f = Failure::new(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            );
            f.extra
                .push(("ClientComputedContentSHA256", claimed.into()));
            f.extra.push(("S3ComputedContentSHA256", actual));
            return Err(f);
        }
        // S3 refuses x-amz-* headers it was not asked to trust.
        let unsigned: Vec<&str> = inc
            .headers
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| {
                let k = k.to_ascii_lowercase();
                k.starts_with("x-amz-") && k != "x-amz-security-token" && !is_signed(&k)
            })
            .collect();
        if !unsigned.is_empty() {
            let mut f = Failure::new(
                403,
                "AccessDenied",
                "There were headers present in the request which were not signed",
            );
            f.extra.push(("HeadersNotSigned", unsigned.join(", ")));
            return Err(f);
        }
        claimed.to_string()
    } else {
        sigv4::sha256_hex(&inc.body)
    };

    let creq = sigv4::canonical_request(
        &inc.method,
        &inc.path,
        &inc.query,
        &inc.headers,
        &signed,
        &payload_hash,
        !s3,
    );
    let scope = sigv4::scope(&auth.date, &auth.region, &auth.service);
    let sts = sigv4::string_to_sign(amz_date, &scope, &creq);
    let key = sigv4::signing_key(&keys.secret_key, &auth.date, &auth.region, &auth.service);
    let expected = sigv4::signature(&key, &sts);
    if expected != auth.signature {
        return Err(if s3 {
            let mut f = Failure::new(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. \
                 Check your key and signing method.",
            );
            f.extra.push(("AWSAccessKeyId", auth.access_key.clone()));
            f.extra.push(("StringToSign", sts));
            f.extra.push(("SignatureProvided", auth.signature.clone()));
            f.extra.push(("CanonicalRequest", creq));
            f
        } else {
            Failure::new(
                400,
                "InvalidSignatureException",
                format!(
                    "The request signature we calculated does not match the signature you \
                     provided. Check your AWS Secret Access Key and signing method. Consult the \
                     service documentation for details.\n\nThe Canonical String for this request \
                     should have been\n'{creq}'\n\nThe String-to-Sign should have been\n'{sts}'\n"
                ),
            )
        });
    }
    Ok(())
}

// --- JSON 1.1 services ------------------------------------------------------------------------

fn json_answer(status: u16, body: &Value, request_id: &str) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-RequestId", request_id)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn unknown_operation() -> Failure {
    let mut f = Failure::new(400, "UnknownOperationException", "");
    f.no_message = true;
    f
}

fn json_failure(f: &Failure, request_id: &str) -> Answer {
    let mut body = json!({ "__type": f.code });
    if !f.no_message {
        let key = if f.capital_message {
            "Message"
        } else {
            "message"
        };
        body[key] = json!(f.message);
    }
    json_answer(f.status, &body, request_id)
}

fn serve_json(shared: &Shared, inc: &Incoming, target: &str, request_id: &str) -> Answer {
    let (service, action) = match target.split_once('.') {
        Some(("secretsmanager", action)) => (Service::SecretsManager, action),
        Some(("AmazonSSM", action)) => (Service::Ssm, action),
        _ => {
            record(shared, "unknown", target, "", 400);
            return json_failure(&unknown_operation(), request_id);
        }
    };
    let parsed: Option<Value> = serde_json::from_slice(&inc.body).ok();
    let field = match service {
        Service::SecretsManager => "SecretId",
        _ => "Name",
    };
    let resource = parsed
        .as_ref()
        .and_then(|v| v.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = service.signing_name();
    let result = authenticate(shared, inc, service).and_then(|()| {
        let content_type = inc.header("content-type").unwrap_or_default();
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-amz-json-1.1")
        {
            return Err(Failure::new(
                400,
                "SerializationException",
                format!("Unsupported Content-Type '{content_type}': expected application/x-amz-json-1.1"),
            ));
        }
        let Some(body) = parsed.as_ref().filter(|v| v.is_object()) else {
            return Err(Failure::new(
                400,
                "SerializationException",
                "Start of structure or map found where not expected.",
            ));
        };
        match (service, action) {
            (Service::SecretsManager, "GetSecretValue") => get_secret_value(shared, body),
            (Service::Ssm, "GetParameter") => get_parameter(shared, body),
            _ => Err(unknown_operation()),
        }
    });
    match result {
        Ok(body) => {
            record(shared, name, action, &resource, 200);
            json_answer(200, &body, request_id)
        }
        Err(f) => {
            record(shared, name, action, &resource, f.status);
            json_failure(&f, request_id)
        }
    }
}

fn denied(action: &str, resource: &str) -> Failure {
    Failure::new(
        400,
        "AccessDeniedException",
        format!(
            "User: {CALLER} is not authorized to perform: {action} on resource: {resource} \
             because no identity-based policy allows the {action} action"
        ),
    )
}

fn get_secret_value(shared: &Shared, body: &Value) -> Result<Value, Failure> {
    let Some(id) = body.get("SecretId").and_then(Value::as_str) else {
        return Err(Failure::new(
            400,
            "ValidationException",
            "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: \
             Member must not be null",
        ));
    };
    let st = shared.state.lock().unwrap();
    let found = st.secrets.iter().find(|s| {
        s.name == id || s.arn == id || s.arn.rsplit_once('-').map(|(p, _)| p) == Some(id)
    });
    let is_denied = st.denied.contains(id) || found.is_some_and(|s| st.denied.contains(&s.name));
    if is_denied {
        let mut f = denied("secretsmanager:GetSecretValue", id);
        f.capital_message = true;
        return Err(f);
    }
    let not_found = || {
        Failure::new(
            400,
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        )
    };
    let secret = found.ok_or_else(not_found)?;
    if let Some(stage) = body.get("VersionStage").and_then(Value::as_str) {
        if stage != "AWSCURRENT" {
            return Err(Failure::new(
                400,
                "ResourceNotFoundException",
                format!(
                    "Secrets Manager can't find the specified secret value for staging label: {stage}"
                ),
            ));
        }
    }
    if let Some(version) = body.get("VersionId").and_then(Value::as_str) {
        if version != secret.version_id {
            return Err(Failure::new(
                400,
                "ResourceNotFoundException",
                format!("Secrets Manager can't find the specified secret value for VersionId: {version}"),
            ));
        }
    }
    Ok(json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "VersionId": secret.version_id,
        "SecretString": secret.value,
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": secret.created,
    }))
}

/// What a SecureString read without decryption gives: its KMS ciphertext, base64.
fn ciphertext(name: &str, value: &str) -> String {
    use base64::Engine as _;
    let mut blob = vec![0x01, 0x02, 0x02, 0x00, 0x78];
    let mut seed = format!("{name}\n{value}");
    while blob.len() < 40 + value.len() {
        let digest = sigv4::sha256_hex(seed.as_bytes());
        blob.extend(hex::decode(&digest).unwrap());
        seed = digest;
    }
    base64::engine::general_purpose::STANDARD.encode(blob)
}

fn parameter_arn(region: &str, name: &str) -> String {
    let path = name.strip_prefix('/').unwrap_or(name);
    format!("arn:aws:ssm:{region}:{ACCOUNT}:parameter/{path}")
}

fn get_parameter(shared: &Shared, body: &Value) -> Result<Value, Failure> {
    let Some(asked) = body.get("Name").and_then(Value::as_str) else {
        return Err(Failure::new(
            400,
            "ValidationException",
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: \
             Member must not be null",
        ));
    };
    let decrypt = body
        .get("WithDecryption")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let st = shared.state.lock().unwrap();
    // A name, or the parameter's ARN.
    let name = st
        .parameters
        .keys()
        .find(|n| *n == asked || parameter_arn(&shared.region, n) == asked)
        .cloned()
        .unwrap_or_else(|| asked.to_string());
    if st.denied.contains(&name) || st.denied.contains(asked) {
        return Err(denied(
            "ssm:GetParameter",
            &parameter_arn(&shared.region, &name),
        ));
    }
    let Some(p) = st.parameters.get(&name) else {
        let mut f = Failure::new(400, "ParameterNotFound", "");
        f.no_message = true;
        return Err(f);
    };
    let value = if p.secure && !decrypt {
        ciphertext(&name, &p.value)
    } else {
        p.value.clone()
    };
    Ok(json!({
        "Parameter": {
            "ARN": parameter_arn(&shared.region, &name),
            "DataType": "text",
            "LastModifiedDate": p.modified,
            "Name": name,
            "Type": if p.secure { "SecureString" } else { "String" },
            "Value": value,
            "Version": p.version,
        }
    }))
}

// --- S3 ----------------------------------------------------------------------------------------

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn s3_ids(request_id: &str) -> (String, String) {
    let id = request_id.replace('-', "").to_ascii_uppercase()[..16].to_string();
    let host_id = {
        use base64::Engine as _;
        let digest = hex::decode(sigv4::sha256_hex(request_id.as_bytes())).unwrap();
        base64::engine::general_purpose::STANDARD
            .encode([digest.as_slice(), &digest[..24]].concat())
    };
    (id, host_id)
}

fn s3_failure(f: &Failure, request_id: &str, head: bool) -> Answer {
    let (id, host_id) = s3_ids(request_id);
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
        f.code,
        xml_escape(&f.message)
    );
    for (k, v) in &f.extra {
        xml.push_str(&format!("<{k}>{}</{k}>", xml_escape(v)));
    }
    xml.push_str(&format!(
        "<RequestId>{id}</RequestId><HostId>{host_id}</HostId></Error>"
    ));
    Response::builder()
        .status(f.status)
        .header("content-type", "application/xml")
        .header("x-amz-request-id", id)
        .header("x-amz-id-2", host_id)
        .header("server", "AmazonS3")
        .body(Full::new(if head {
            Bytes::new()
        } else {
            Bytes::from(xml)
        }))
        .unwrap()
}

fn serve_s3(shared: &Shared, inc: &Incoming, request_id: &str) -> Answer {
    // Path-style: /<bucket>/<key>, each segment percent-encoded by the client.
    let decoded = String::from_utf8_lossy(&sigv4::percent_decode(&inc.path)).into_owned();
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let resource = if key.is_empty() {
        bucket.to_string()
    } else {
        format!("{bucket}/{key}")
    };
    let head = inc.method == "HEAD";
    let action = match inc.method.as_str() {
        "GET" if !key.is_empty() => "GetObject",
        "HEAD" if !key.is_empty() => "HeadObject",
        "GET" if !bucket.is_empty() => "ListObjects",
        "GET" => "ListBuckets",
        "PUT" => "PutObject",
        "DELETE" => "DeleteObject",
        _ => "Unknown",
    };
    let result = authenticate(shared, inc, Service::S3).and_then(|()| {
        if !matches!(action, "GetObject" | "HeadObject") {
            let mut f = Failure::new(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            );
            f.extra.push(("Resource", inc.path.clone()));
            return Err(f);
        }
        let st = shared.state.lock().unwrap();
        if st.denied.contains(&resource) || st.denied.contains(bucket) {
            return Err(Failure::new(403, "AccessDenied", "Access Denied"));
        }
        let Some(objects) = st.buckets.get(bucket) else {
            let mut f = Failure::new(404, "NoSuchBucket", "The specified bucket does not exist");
            f.extra.push(("BucketName", bucket.to_string()));
            return Err(f);
        };
        let Some(data) = objects.get(key) else {
            let mut f = Failure::new(404, "NoSuchKey", "The specified key does not exist.");
            f.extra.push(("Key", key.to_string()));
            return Err(f);
        };
        Ok(data.clone())
    });
    match result {
        Ok(data) => {
            record(shared, "s3", action, &resource, 200);
            let (id, host_id) = s3_ids(request_id);
            let etag = format!("\"{}\"", &sigv4::sha256_hex(&data)[..32]);
            let answer = Response::builder()
                .status(200)
                .header("content-type", "binary/octet-stream")
                .header("etag", etag)
                .header("last-modified", "Tue, 14 Nov 2023 22:13:20 GMT")
                .header("accept-ranges", "bytes")
                .header("x-amz-request-id", id)
                .header("x-amz-id-2", host_id)
                .header("server", "AmazonS3");
            if head {
                answer
                    .header("content-length", data.len())
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            } else {
                answer.body(Full::new(Bytes::from(data))).unwrap()
            }
        }
        Err(f) => {
            record(shared, "s3", action, &resource, f.status);
            s3_failure(&f, request_id, head)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SNS (Query protocol): form fields in, XML out.

const SNS_NS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                String::from_utf8_lossy(&sigv4::percent_decode(&s.replace('+', " "))).into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn serve_sns(shared: &Shared, inc: &Incoming, request_id: &str) -> Answer {
    let fields = form_fields(&inc.body);
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let action = field("Action").unwrap_or_default();
    let topic = field("TopicArn").unwrap_or_default();
    let result = authenticate(shared, inc, Service::Sns).and_then(|()| {
        if action != "Publish" {
            return Err(Failure::new(
                400,
                "InvalidAction",
                format!("The action {action} is not valid for this web service."),
            ));
        }
        if field("Version").as_deref() != Some("2010-03-31") {
            return Err(Failure::new(400, "InvalidParameter", "Invalid parameter: Version"));
        }
        let Some(message) = field("Message").filter(|m| !m.is_empty()) else {
            return Err(Failure::new(
                400,
                "ValidationError",
                "1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null",
            ));
        };
        if message.len() > 256 * 1024 {
            return Err(Failure::new(400, "InvalidParameter", "Invalid parameter: Message too long"));
        }
        let subject = field("Subject");
        if let Some(s) = &subject {
            let printable = s.chars().all(|c| (' '..='~').contains(&c));
            if s.is_empty() || s.chars().count() > 100 || !printable {
                return Err(Failure::new(400, "InvalidParameter", "Invalid parameter: Subject"));
            }
        }
        let mut st = shared.state.lock().unwrap();
        if !st.topics.contains(&topic) {
            return Err(Failure::new(404, "NotFound", "Topic does not exist"));
        }
        st.published.push(Published {
            topic_arn: topic.clone(),
            subject,
            message,
        });
        st.next_id += 1;
        Ok(uuid_like(st.next_id, "message"))
    });
    match result {
        Ok(message_id) => {
            record(shared, "sns", &action, &topic, 200);
            let xml = format!(
                "<PublishResponse xmlns=\"{SNS_NS}\">\n  <PublishResult>\n    <MessageId>{message_id}</MessageId>\n  </PublishResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</PublishResponse>\n"
            );
            Response::builder()
                .status(200)
                .header("content-type", "text/xml")
                .header("x-amzn-RequestId", request_id)
                .body(Full::new(Bytes::from(xml)))
                .unwrap()
        }
        Err(f) => {
            record(shared, "sns", &action, &topic, f.status);
            let kind = if f.status >= 500 {
                "Receiver"
            } else {
                "Sender"
            };
            let xml = format!(
                "<ErrorResponse xmlns=\"{SNS_NS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
                f.code,
                xml_escape(&f.message)
            );
            Response::builder()
                .status(f.status)
                .header("content-type", "text/xml")
                .header("x-amzn-RequestId", request_id)
                .body(Full::new(Bytes::from(xml)))
                .unwrap()
        }
    }
}
