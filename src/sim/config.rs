//! The simulator's configuration: accounts, domains with their behaviour, quotas and faults.
//! Read from JSON (`cdn-sim --config FILE`) or built in code by tests.

use serde::{Deserialize, Serialize};

/// Everything the simulator starts with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Access keys the gateway accepts.
    #[serde(default)]
    pub credentials: Vec<SimCredential>,
    /// The CDN domains of the account.
    #[serde(default)]
    pub domains: Vec<SimDomainConfig>,
    /// Calls per documented window (a minute, or a second for ShowCertificatesHttpsInfo) per API,
    /// by SDK operation name; absent ones use the documented quotas.
    #[serde(default)]
    pub quotas: std::collections::BTreeMap<String, u32>,
    /// Quota windows are the documented ones divided by this (so tests can hit a quota quickly).
    #[serde(default = "one")]
    pub quota_time_scale: f64,
    /// Faults to inject, matched in order.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Certificate Manager (SCM) certificates, served by ShowCertificate; a CDN write naming
    /// another id is refused. Empty: the CDN takes any id (and ShowCertificate knows none).
    #[serde(default)]
    pub scm_certificates: Vec<SimScmCertificate>,
    /// The settings UpdateDomainMultiCertificates keeps, of those it cannot carry
    /// (`tls_version`, `ocsp_stapling`, `redirect_code`, `cipher_suites`, `hsts`, `quic`,
    /// `origin_sni`, `client_cert`, or `all`). Its reference does not say; by default the
    /// simulator assumes the worst and resets every one (TLS to the documented default, a
    /// redirect code to 301, the others off).
    #[serde(default)]
    pub batch_keeps: Vec<String>,
    /// What ShowCertificatesHttpsInfo answers as `https_status` for a domain with HTTPS on and
    /// an HTTPS origin: 3 (an undocumented value), or 2 (the documented HTTP-origin value, which
    /// the documentation leaves possible: it lists no value for an HTTPS origin).
    #[serde(default = "three")]
    pub bulk_https_origin_status: i64,
    /// Whether ShowCertificatesHttpsInfo entries carry `force_redirect_config` (undocumented in
    /// that answer) beside the documented `force_redirect_https`.
    #[serde(default = "yes")]
    pub bulk_redirect_config: bool,
    /// The project id CSMS paths must carry (`/v1/{project_id}/secrets/...`).
    #[serde(default = "default_project_id")]
    pub project_id: String,
    /// CSMS secrets (ShowSecretVersion). A name given twice gets a second version.
    #[serde(default)]
    pub secrets: Vec<SimSecret>,
    /// OBS objects (GetObject); their buckets are the buckets that exist.
    #[serde(default)]
    pub objects: Vec<SimObject>,
    /// Whether UpdateDomainFullConfig also resets what its body does not carry: each block
    /// beside `https` it does not name (a present one becomes `{"status": "off"}`,
    /// `https_tls_version` `{"cipher_suite_group": "default"}`; an absent one stays absent),
    /// `force_redirect` (off) and `origin_protocol` (`http`). By default an unsent one is left
    /// as it is.
    #[serde(default)]
    pub put_resets_unsent: bool,
    /// A CDN bug: each applied write also changes a setting it did not ask to change (see
    /// [`Drift`]). None by default.
    #[serde(default)]
    pub drift: Option<Drift>,
    /// Where ShowDomainFullConfig carries the TLS versions (see [`TlsIn`]).
    #[serde(default)]
    pub tls_in: TlsIn,
}

/// A setting changed behind a write, once the write is applied to a domain, whatever the write
/// asked (the model of a CDN bug, for the deployer's proof by read-back to catch).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    /// What changes: `hsts`, `quic`, `sni`, `client_cert` (a present block that is not off is
    /// switched off, one that is off on; an absent `quic` appears on, the others stay absent),
    /// `tls_version` (`TLSv1.2,TLSv1.3`, or the default when it was that), `ocsp_stapling` or
    /// `http2` (flipped), `redirect_code` (301 and 302 swapped, when the redirect is on) or
    /// `origin_protocol` (`http`, or `https` when it was `http`).
    pub setting: String,
    /// How many applied writes of each domain it strikes: `1` strikes the first only (so a
    /// write restoring the setting afterwards holds); every write when absent.
    #[serde(default)]
    pub writes: Option<u32>,
    /// Only writes of this API (`UpdateDomainFullConfig` or `UpdateDomainMultiCertificates`);
    /// any write when absent.
    #[serde(default)]
    pub api: Option<String>,
}

/// The settings [`Drift::setting`] may name.
pub const DRIFT_SETTINGS: [&str; 9] = [
    "hsts",
    "quic",
    "sni",
    "client_cert",
    "tls_version",
    "ocsp_stapling",
    "http2",
    "redirect_code",
    "origin_protocol",
];

/// Where ShowDomainFullConfig carries a domain's TLS versions (a PUT may send them in either
/// place, whatever this says; `https_tls_version.tls_version` wins when both are sent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsIn {
    /// In `https.tls_version`, and in `https_tls_version.tls_version` when the domain has that
    /// block.
    #[default]
    Both,
    /// Only in `https_tls_version.tls_version`: the `https` block has no `tls_version`, and
    /// every domain has an `https_tls_version` block (`{"cipher_suite_group": "default"}`
    /// when it was configured without one).
    HttpsTlsVersion,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            credentials: Vec::new(),
            domains: Vec::new(),
            quotas: Default::default(),
            quota_time_scale: one(),
            faults: Vec::new(),
            scm_certificates: Vec::new(),
            batch_keeps: Vec::new(),
            bulk_https_origin_status: three(),
            bulk_redirect_config: yes(),
            project_id: default_project_id(),
            secrets: Vec::new(),
            objects: Vec::new(),
            put_resets_unsent: false,
            drift: None,
            tls_in: TlsIn::Both,
        }
    }
}

/// The project id of a default configuration.
pub const DEFAULT_PROJECT_ID: &str = "0123456789abcdef0123456789abcdef";

fn default_project_id() -> String {
    DEFAULT_PROJECT_ID.into()
}

fn one() -> f64 {
    1.0
}

fn three() -> i64 {
    3
}

fn yes() -> bool {
    true
}

/// One CSMS secret: its name and the `secret_string` of its version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimSecret {
    pub name: String,
    /// The `secret_string` ShowSecretVersion returns.
    pub value: String,
    /// When set, reading it is refused (403), as a missing IAM permission would.
    #[serde(default)]
    pub denied: bool,
}

impl SimSecret {
    /// A readable secret.
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            denied: false,
        }
    }
}

/// One Certificate Manager certificate, as ShowCertificate describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimScmCertificate {
    pub id: String,
    /// Its names: the first is answered as `domain`, the others as `sans` (joined with `;`).
    #[serde(default)]
    pub names: Vec<String>,
    /// RFC 3339 (or SCM's `2027-02-25 23:59:59.0`); answered as SCM writes times. Absent: null.
    #[serde(default)]
    pub not_after: Option<String>,
    #[serde(default)]
    pub not_before: Option<String>,
    /// SCM's `status` (`ISSUED`, `UPLOAD`, `EXPIRED`, `REVOKED`, ...).
    #[serde(default = "issued")]
    pub status: String,
    /// When set, reading it is refused (403), as a missing IAM permission would.
    #[serde(default)]
    pub denied: bool,
}

fn issued() -> String {
    "ISSUED".into()
}

impl SimScmCertificate {
    /// An issued certificate with these names, valid until `not_after` (RFC 3339).
    pub fn new(id: &str, names: &[&str], not_after: &str) -> Self {
        Self {
            id: id.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
            not_after: Some(not_after.into()),
            not_before: None,
            status: issued(),
            denied: false,
        }
    }
}

/// One OBS object. In JSON, `body` is a string (its UTF-8 bytes) or an array of bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimObject {
    pub bucket: String,
    /// The object key, decoded (`certs/site.pem`).
    pub key: String,
    #[serde(default, with = "body_serde")]
    pub body: Vec<u8>,
    /// When set, reading it is refused (403 `AccessDenied`).
    #[serde(default)]
    pub denied: bool,
}

impl SimObject {
    /// A readable object.
    pub fn new(bucket: &str, key: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            body: body.into(),
            denied: false,
        }
    }
}

/// `body` as text when it is UTF-8, as an array of bytes otherwise.
mod body_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize, Serialize)]
    #[serde(untagged)]
    enum Body {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(body) {
            Ok(text) => Body::Text(text.to_string()).serialize(s),
            Err(_) => Body::Bytes(body.to_vec()).serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Body::deserialize(d)? {
            Body::Text(text) => text.into_bytes(),
            Body::Bytes(bytes) => bytes,
        })
    }
}

/// One accepted access key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimCredential {
    pub ak: String,
    pub sk: String,
    /// When set, calls must carry (and sign) this `X-Security-Token`.
    #[serde(default)]
    pub security_token: Option<String>,
    /// CDN operations (the SDKs' names, as `ShowDomainFullConfig`) this key's IAM policy does
    /// not allow: each call is answered 403 after a good signature, as IAM refuses an action.
    /// The CDN documents no code for that refusal, so its answer's code decides nothing.
    #[serde(default)]
    pub denied: Vec<String>,
}

/// How a domain behaves after a write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Goes `online` after `configure_ms`.
    #[default]
    Online,
    /// Ends `configure_failed` after `configure_ms`.
    ConfigureFailed,
    /// Stays `configuring` for ever.
    Stuck,
}

/// One CDN domain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimDomainConfig {
    pub name: String,
    /// Initial status (`online` by default). A `configuring` domain settles to `online` after
    /// `configure_ms` (a domain busy with an earlier change).
    #[serde(default = "online")]
    pub status: String,
    /// How long a write keeps the domain `configuring`.
    #[serde(default = "default_configure_ms")]
    pub configure_ms: u64,
    #[serde(default)]
    pub outcome: Outcome,
    /// The initial https block (as GET returns it, plus the `private_key` it was uploaded with).
    #[serde(default)]
    pub https: Option<serde_json::Value>,
    #[serde(default = "follow")]
    pub origin_protocol: String,
    /// `{"status", "type", "redirect_code"}`; off when absent.
    #[serde(default)]
    pub force_redirect: Option<serde_json::Value>,
    /// `mainland_china` (default), `outside_mainland_china` or `global`. Outside the mainland
    /// the https block has no `http2_status`, and a write that sends one is refused.
    #[serde(default = "mainland")]
    pub service_area: String,
    /// The blocks beside `https` (absent when not given), as GET returns them: the simulator
    /// keeps them, a full-config PUT that names one replaces it, and the batch call resets the
    /// ones it does not keep (see `batch_keeps`).
    #[serde(default)]
    pub https_tls_version: Option<serde_json::Value>,
    #[serde(default)]
    pub hsts: Option<serde_json::Value>,
    #[serde(default)]
    pub quic: Option<serde_json::Value>,
    #[serde(default)]
    pub sni: Option<serde_json::Value>,
    #[serde(default)]
    pub client_cert: Option<serde_json::Value>,
    /// What the domain's DNS answers for a CNAME query (the simulator also answers DNS, on its
    /// port over UDP): absent, the CNAME the CDN assigned; `""`, no CNAME at all.
    #[serde(default)]
    pub dns_cname: Option<String>,
}

fn mainland() -> String {
    "mainland_china".into()
}

fn online() -> String {
    "online".into()
}
fn follow() -> String {
    "follow".into()
}
fn default_configure_ms() -> u64 {
    1500
}

impl SimDomainConfig {
    /// An online domain with default settings.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            status: online(),
            configure_ms: default_configure_ms(),
            outcome: Outcome::Online,
            https: None,
            origin_protocol: follow(),
            force_redirect: None,
            service_area: mainland(),
            https_tls_version: None,
            hsts: None,
            quic: None,
            sni: None,
            client_cert: None,
            dns_cname: None,
        }
    }
}

/// What a fault does.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and error body (the write applied first when `apply`).
    Status {
        http_status: u16,
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        style: ErrorStyle,
        #[serde(default)]
        apply: bool,
    },
    /// Close the connection without an answer (the write applied first when `apply`).
    Reset {
        #[serde(default)]
        apply: bool,
    },
    /// Answer normally, after a delay.
    Delay { delay_ms: u64 },
    /// In an UpdateDomainMultiCertificates call, fail this fault's `domain` with `reason` (in a
    /// 200 whose `status` is `fail`) while the others are applied.
    BatchFail { reason: String },
}

/// The four error body styles the SDKs read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStyle {
    /// `{"error": {"error_code", "error_msg"}}`
    #[default]
    Cdn,
    /// `{"error_code", "error_msg", "request_id"}`
    Flat,
    /// `{"errorCode", "errorMsg"}`
    Camel,
    /// `{"code", "message"}`
    Code,
}

/// A fault: what, on which calls, how often.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Fault {
    /// SDK operation name (`UpdateDomainFullConfig`, …); any API when absent.
    #[serde(default)]
    pub api: Option<String>,
    /// Only calls about this domain; any when absent.
    #[serde(default)]
    pub domain: Option<String>,
    /// Matching calls to let through before the fault fires.
    #[serde(default)]
    pub skip: u32,
    /// How many times it fires; for ever when absent.
    #[serde(default)]
    pub times: Option<u32>,
    #[serde(flatten)]
    pub kind: FaultKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_from_json() {
        let cfg: SimConfig = serde_json::from_str(
            r#"{"secrets": [{"name": "s", "value": "v", "denied": true}],
                "objects": [{"bucket": "b", "key": "a/k.pem", "body": "text"},
                            {"bucket": "b", "key": "bin", "body": [0, 159]}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.project_id, DEFAULT_PROJECT_ID);
        assert_eq!(cfg.quota_time_scale, 1.0);
        assert!(cfg.secrets[0].denied);
        assert_eq!(cfg.objects[0].body, b"text");
        assert_eq!(cfg.objects[1].body, [0, 159]);
        let back = serde_json::to_value(&cfg.objects).unwrap();
        assert_eq!(back[0]["body"], "text");
        assert_eq!(back[1]["body"], serde_json::json!([0, 159]));
        assert_eq!(SimConfig::default().project_id, DEFAULT_PROJECT_ID);
    }

    #[test]
    fn modes_from_json_are_off_by_default() {
        let cfg: SimConfig = serde_json::from_str("{}").unwrap();
        assert!(!cfg.put_resets_unsent);
        assert_eq!((cfg.drift, cfg.tls_in), (None, TlsIn::Both));
        let cfg: SimConfig = serde_json::from_str(
            r#"{"put_resets_unsent": true, "tls_in": "https_tls_version",
                "drift": {"setting": "hsts", "writes": 1, "api": "UpdateDomainFullConfig"}}"#,
        )
        .unwrap();
        assert!(cfg.put_resets_unsent);
        assert_eq!(cfg.tls_in, TlsIn::HttpsTlsVersion);
        let drift = cfg.drift.unwrap();
        assert_eq!(
            (drift.setting.as_str(), drift.writes, drift.api.as_deref()),
            ("hsts", Some(1), Some("UpdateDomainFullConfig"))
        );
        assert!(
            serde_json::from_str::<SimConfig>(r#"{"drift": {"setting": "hsts", "x": 1}}"#).is_err()
        );
    }
}
