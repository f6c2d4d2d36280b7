//! The CDN API's JSON bodies, decoded leniently: unknown fields are ignored and every field the
//! function does not strictly need may be absent.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::secret::Secret;

/// `domain_status` of a CDN domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainStatus {
    Online,
    Offline,
    Configuring,
    ConfigureFailed,
    Checking,
    CheckFailed,
    Deleting,
    /// A status this version does not know; treated as "not settled".
    Other(String),
}

impl DomainStatus {
    /// Parses the API's spelling.
    pub fn parse(s: &str) -> Self {
        match s {
            "online" => Self::Online,
            "offline" => Self::Offline,
            "configuring" => Self::Configuring,
            "configure_failed" => Self::ConfigureFailed,
            "checking" => Self::Checking,
            "check_failed" => Self::CheckFailed,
            "deleting" => Self::Deleting,
            other => Self::Other(other.to_string()),
        }
    }

    /// The API's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Configuring => "configuring",
            Self::ConfigureFailed => "configure_failed",
            Self::Checking => "checking",
            Self::CheckFailed => "check_failed",
            Self::Deleting => "deleting",
            Self::Other(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for DomainStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

impl Serialize for DomainStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// ShowDomainDetailByName answer: `{"domain": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct DomainDetailBody {
    pub domain: DomainDetail,
}

/// The parts of a domain's detail the deployment reads.
#[derive(Debug, Clone, Deserialize)]
pub struct DomainDetail {
    #[serde(default)]
    pub domain_name: Option<String>,
    pub domain_status: DomainStatus,
}

/// ListDomains answer: `{"total": N, "domains": [...]}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DomainList {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub domains: Vec<ListedDomain>,
}

/// One domain of a ListDomains page.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ListedDomain {
    pub domain_name: String,
    pub domain_status: DomainStatus,
    /// The CNAME the domain's DNS points at (the CDN edge), for the edge check.
    #[serde(default)]
    pub cname: Option<String>,
}

/// A page of a paged list call: its entries and the total over every page.
pub trait Paged {
    type Item;
    fn into_page(self) -> (Vec<Self::Item>, u64);
}

impl Paged for DomainList {
    type Item = ListedDomain;
    fn into_page(self) -> (Vec<ListedDomain>, u64) {
        (self.domains, self.total)
    }
}

impl Paged for HttpsInfoList {
    type Item = HttpsDetail;
    fn into_page(self) -> (Vec<HttpsDetail>, u64) {
        (self.https, self.total)
    }
}

/// ShowCertificatesHttpsInfo answer: `{"https": [...], "total": N}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpsInfoList {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub https: Vec<HttpsDetail>,
}

/// One domain's HTTPS settings as the bulk read gives them (`HttpsDetail` in the SDKs).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct HttpsDetail {
    pub domain_name: String,
    #[serde(default)]
    pub cert_name: Option<String>,
    /// The certificate chain (PEM), when HTTPS is on.
    #[serde(default)]
    pub certificate: Option<String>,
    /// 0 an uploaded certificate, 2 a Certificate Manager one.
    #[serde(default)]
    pub certificate_type: Option<i64>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub expiration_time: Option<i64>,
    /// Documented as 0 off, 1 on with the origin protocol following the client, 2 on with an
    /// HTTP origin. No value is documented for an HTTPS origin: such a domain may read 2 (or an
    /// undocumented 3), so 2 and 3 say nothing certain about the origin.
    #[serde(default)]
    pub https_status: Option<i64>,
    /// Documented: 1 forced to HTTPS, 0 not forced, 2 forced to HTTP. No redirect code.
    #[serde(default)]
    pub force_redirect_https: Option<i64>,
    /// Undocumented in this answer and possibly absent; only checked against
    /// `force_redirect_https`, never trusted alone.
    #[serde(default)]
    pub force_redirect_config: Option<BatchRedirect>,
    /// 1 on, 0 off; absent where the domain has no HTTP/2 setting.
    #[serde(default)]
    pub http2: Option<i64>,
}

/// Forced redirect as the batch API writes it: `switch` 1/0, `redirect_type` http/https.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub struct BatchRedirect {
    #[serde(default)]
    pub switch: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_type: Option<String>,
}

/// UpdateDomainMultiCertificates body: `{"https": {...}}`, at most 50 comma-joined domains.
/// The settings it omits fall back to http origin, HTTP/2 off and no redirect, so every one is
/// sent; it cannot carry TLS versions or OCSP stapling.
#[derive(Debug, Clone, Serialize)]
pub struct BatchPut {
    pub https: BatchHttps,
}

/// The `https` object of [`BatchPut`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchHttps {
    /// Comma-joined.
    pub domain_name: String,
    /// 1: HTTPS on.
    pub https_switch: i64,
    /// 1 follow, 2 http, 3 https.
    pub access_origin_way: i64,
    pub http2: i64,
    /// The older redirect field (1 forced to HTTPS, 0 not; empty means off), sent with
    /// `force_redirect_config` so that either reading keeps the redirect.
    pub force_redirect_https: i64,
    pub force_redirect_config: BatchRedirect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_secret"
    )]
    pub private_key: Option<Secret>,
    /// 0 uploaded, 2 Certificate Manager.
    pub certificate_type: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scm_certificate_id: Option<String>,
}

/// UpdateDomainMultiCertificates answer; a 200 may still say `"status": "fail"` with the failed
/// domains in `result`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BatchAnswer {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub result: Vec<BatchDomainResult>,
}

/// One domain's outcome in a batch answer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct BatchDomainResult {
    pub domain_name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl BatchAnswer {
    /// The domains the answer says failed, with the reason.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.result
            .iter()
            .filter(|r| r.status.as_deref().is_some_and(|s| s != "success"))
            .map(|r| {
                (
                    r.domain_name.to_ascii_lowercase(),
                    r.reason.clone().unwrap_or_else(|| "failed".into()),
                )
            })
            .collect()
    }
}

/// ShowDomainFullConfig answer: `{"configs": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct FullConfigBody {
    pub configs: Configs,
}

/// The parts of a domain's full configuration the deployment reads or must keep.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Configs {
    #[serde(default)]
    pub https: Option<HttpsGet>,
    #[serde(default)]
    pub origin_protocol: Option<String>,
    #[serde(default)]
    pub force_redirect: Option<ForceRedirect>,
    /// `mainland_china`, `outside_mainland_china` or `global`.
    #[serde(default)]
    pub service_area: Option<String>,
    /// The blocks beside `https` that a write must keep: carried by every per-domain write as
    /// read, and compared before and after a write to prove it.
    #[serde(default)]
    pub https_tls_version: Option<Value>,
    #[serde(default)]
    pub hsts: Option<Value>,
    #[serde(default)]
    pub quic: Option<Value>,
    #[serde(default)]
    pub sni: Option<Value>,
    #[serde(default)]
    pub client_cert: Option<Value>,
}

/// Forced redirect: `status` on/off, `type` http/https.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ForceRedirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<i64>,
}

/// The `https` block as GET returns it (`HttpGetBody` in the SDKs).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct HttpsGet {
    #[serde(default)]
    pub https_status: Option<String>,
    #[serde(default)]
    pub certificate_name: Option<String>,
    #[serde(default)]
    pub certificate_value: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub expire_time: Option<i64>,
    #[serde(default)]
    pub certificate_source: Option<i64>,
    #[serde(default)]
    pub scm_certificate_id: Option<String>,
    /// `server` (international) or `server_sm` (SM2, national cryptography).
    #[serde(default)]
    pub certificate_type: Option<String>,
    /// The SM encryption certificate of an SM pair.
    #[serde(default)]
    pub enc_certificate_value: Option<String>,
    /// Every certificate of a domain serving more than one (international and SM).
    #[serde(default)]
    pub certificates: Option<Vec<CertificateGet>>,
    #[serde(default)]
    pub http2_status: Option<String>,
    #[serde(default)]
    pub tls_version: Option<String>,
    #[serde(default)]
    pub ocsp_stapling_status: Option<String>,
}

/// One entry of the https block's `certificates` (`CertificatesGetBody` in the SDKs).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct CertificateGet {
    #[serde(default)]
    pub certificate_type: Option<String>,
    #[serde(default)]
    pub certificate_source: Option<i64>,
    #[serde(default)]
    pub enc_certificate_value: Option<String>,
}

/// `certificate_source` of a certificate the user uploaded. (1, a certificate Huawei Cloud
/// hosts, is another certificate like any: recognized only by its fingerprint, and replaced.)
pub const SOURCE_OWN: i64 = 0;
/// `certificate_source` of a Certificate Manager (SCM) certificate.
pub const SOURCE_SCM: i64 = 2;

/// The `https` block as PUT sends it. Whatever is `None` is left out of the body, and the CDN
/// resets what the block omits, so the deployment fills every setting it must keep.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HttpsPut {
    pub https_status: String,
    pub certificate_type: String,
    pub certificate_source: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scm_certificate_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_value: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_secret"
    )]
    pub private_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocsp_stapling_status: Option<String>,
}

/// The only place a private key is turned into text: the body of the CDN write.
fn expose_secret<S: Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

/// UpdateDomainFullConfig body: `{"configs": {"https": {...}}}`.
#[derive(Debug, Clone, Serialize)]
pub struct FullConfigPut<'a> {
    pub configs: ConfigsPut<'a>,
}

/// A `configs` object: the `https` block, and each other block the domain's full read showed,
/// so that nothing the PUT could reset is left unsent (blocks it does not name are untouched).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigsPut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https: Option<&'a HttpsPut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_protocol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_redirect: Option<&'a ForceRedirect>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_tls_version: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hsts: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quic: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<&'a Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_leniently() {
        let body = r#"{"configs":{"https":{"https_status":"on","http2_status":"on","new_field":1},
                       "origin_protocol":"https","biz":{"x":1}}}"#;
        let c: FullConfigBody = serde_json::from_str(body).unwrap();
        let h = c.configs.https.unwrap();
        assert_eq!(h.http2_status.as_deref(), Some("on"));
        assert_eq!(h.tls_version, None);
        assert_eq!(c.configs.origin_protocol.as_deref(), Some("https"));
        let d: DomainDetailBody =
            serde_json::from_str(r#"{"domain":{"domain_status":"weird","id":"x"}}"#).unwrap();
        assert_eq!(d.domain.domain_status, DomainStatus::Other("weird".into()));
    }

    #[test]
    fn batch_answers_name_their_failures() {
        let a: BatchAnswer = serde_json::from_str(
            r#"{"status":"fail","result":[{"domain_name":"A.example.com","status":"fail","reason":"busy"},
                {"domain_name":"b.example.com","status":"success"}]}"#,
        )
        .unwrap();
        assert_eq!(
            a.failures(),
            vec![("a.example.com".to_string(), "busy".to_string())]
        );
        let ok: BatchAnswer = serde_json::from_str(r#"{"https":{"domain_name":"a"}}"#).unwrap();
        assert!(ok.failures().is_empty());
    }

    #[test]
    fn put_body_leaves_out_what_is_unset_and_carries_the_key_only_there() {
        let put = HttpsPut {
            https_status: "on".into(),
            certificate_type: "server".into(),
            certificate_source: SOURCE_OWN,
            private_key: Some(Secret::new("KEY")),
            http2_status: Some("on".into()),
            ..Default::default()
        };
        let json = serde_json::to_value(FullConfigPut {
            configs: ConfigsPut {
                https: Some(&put),
                ..Default::default()
            },
        })
        .unwrap();
        assert_eq!(json["configs"]["https"]["private_key"], "KEY");
        assert_eq!(json["configs"]["https"]["http2_status"], "on");
        assert!(json["configs"]["https"].get("tls_version").is_none());
        assert_eq!(json["configs"].as_object().unwrap().len(), 1, "only https");
        assert!(!format!("{put:?}").contains("KEY"));
    }
}
