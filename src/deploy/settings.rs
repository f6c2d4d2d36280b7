//! What a write must keep of a domain, read from what the API documents and nothing else.
//!
//! UpdateDomainMultiCertificates (the batch call) carries the origin protocol, HTTP/2 and the
//! forced redirect (switch and type), and resets what it is not sent; [`BatchKey`] is what a
//! batched domain is sent, grouped by. It cannot carry TLS versions, OCSP stapling, the redirect
//! code, cipher suites, HSTS, QUIC, origin SNI or client certificates, and its reference does
//! not say what it does to them: those are [`Uncarried`] settings, read per domain
//! ([`Values`]) and compared by the probes of [`super::learn`]. A domain is batched only when
//! every setting it holds is one the batch call is known to leave as it is.
//!
//! Everything here is pure: configurations and bulk-read entries in, decisions out.

use serde_json::Value;

use super::target::Target;
use crate::cert::LeafFacts;
use crate::huawei::model::{
    BatchRedirect, Configs, ForceRedirect, HttpsDetail, HttpsGet, SOURCE_OWN, SOURCE_SCM,
};

/// Settings the request asks to change; `None` keeps the domain's current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub http2: Option<bool>,
    pub tls_version: Option<String>,
    pub ocsp_stapling: Option<bool>,
}

/// A domain's bulk-read entry as a sweep keeps it: its settings, and of its certificate only
/// the facts decisions need (so that a sweep of 10 000 domains stays small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkEntry {
    pub https_status: Option<i64>,
    pub certificate_type: Option<i64>,
    pub http2: Option<i64>,
    pub force_redirect_https: Option<i64>,
    pub force_redirect_config: Option<BatchRedirect>,
    /// Milliseconds since the epoch, as the CDN gives it.
    pub expiration_time: Option<i64>,
    pub leaf: Option<LeafFacts>,
}

impl BulkEntry {
    /// The entry of `detail`, its certificate read by `facts`.
    pub fn new(detail: HttpsDetail, facts: impl FnOnce(&str) -> Option<LeafFacts>) -> Self {
        Self {
            https_status: detail.https_status,
            certificate_type: detail.certificate_type,
            http2: detail.http2,
            force_redirect_https: detail.force_redirect_https,
            force_redirect_config: detail.force_redirect_config,
            expiration_time: detail.expiration_time,
            leaf: detail.certificate.as_deref().and_then(facts),
        }
    }

    fn https_on(&self) -> bool {
        self.https_status.unwrap_or(0) > 0
    }

    /// Whether the entry shows the domain serving `target`, by the fingerprint of its leaf
    /// (`None`: the bulk read cannot tell; it does not carry the Certificate Manager id).
    pub fn serves(&self, target: &Target) -> Option<bool> {
        match target {
            Target::Pem { fingerprint, .. } => Some(
                self.https_on()
                    && self.certificate_type.unwrap_or(SOURCE_OWN) != SOURCE_SCM
                    && self.leaf.as_ref().map(|l| &l.fingerprint) == Some(fingerprint),
            ),
            Target::Scm { .. } => None,
        }
    }

    /// When the certificate the domain serves expires (unix seconds): the leaf itself, else the
    /// CDN's `expiration_time`; `None` when HTTPS is off.
    pub fn not_after(&self) -> Option<i64> {
        if !self.https_on() {
            return None;
        }
        self.leaf
            .as_ref()
            .and_then(|l| l.not_after)
            .or(self.expiration_time.map(|ms| ms / 1000))
    }
}

/// Origin protocol (`origin_protocol` of the full config; `access_origin_way` of the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    Follow,
    Http,
    Https,
}

impl Origin {
    /// The full config's spelling; `None` for a value the documentation does not list.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "follow" => Some(Origin::Follow),
            "http" => Some(Origin::Http),
            "https" => Some(Origin::Https),
            _ => None,
        }
    }

    /// `access_origin_way` of the batch call: 1 follow, 2 http, 3 https.
    pub fn access_origin_way(self) -> i64 {
        match self {
            Origin::Follow => 1,
            Origin::Http => 2,
            Origin::Https => 3,
        }
    }
}

/// What a batched write sends for a domain to keep what the batch call carries; domains with
/// the same key share a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchKey {
    pub origin: Origin,
    pub http2: bool,
    /// Forced redirect to HTTPS (a redirect to HTTP is never batched: the older
    /// `force_redirect_https` field, sent too, cannot say it).
    pub redirect_to_https: bool,
}

impl BatchKey {
    /// `force_redirect_config` of the batch body.
    pub fn redirect_config(&self) -> BatchRedirect {
        BatchRedirect {
            switch: i64::from(self.redirect_to_https),
            redirect_type: self.redirect_to_https.then(|| "https".to_string()),
        }
    }
}

/// A setting the batch call cannot carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Uncarried {
    TlsVersion,
    OcspStapling,
    /// The forced redirect's code (301/302), where the redirect is on.
    RedirectCode,
    /// `https_tls_version`'s cipher suite group and suites.
    Ciphers,
    Hsts,
    Quic,
    Sni,
    ClientCert,
}

impl Uncarried {
    pub const ALL: [Uncarried; 8] = [
        Uncarried::TlsVersion,
        Uncarried::OcspStapling,
        Uncarried::RedirectCode,
        Uncarried::Ciphers,
        Uncarried::Hsts,
        Uncarried::Quic,
        Uncarried::Sni,
        Uncarried::ClientCert,
    ];

    /// The name logs and messages use.
    pub fn name(self) -> &'static str {
        match self {
            Uncarried::TlsVersion => "tls_version",
            Uncarried::OcspStapling => "ocsp_stapling",
            Uncarried::RedirectCode => "redirect_code",
            Uncarried::Ciphers => "cipher_suites",
            Uncarried::Hsts => "hsts",
            Uncarried::Quic => "quic",
            Uncarried::Sni => "origin_sni",
            Uncarried::ClientCert => "client_cert",
        }
    }
}

/// A domain's value of each [`Uncarried`] setting, as read: `None` where the setting does not
/// apply (a redirect code while the redirect is off), `Some(Value::Null)` where the config
/// does not carry it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values(pub Vec<(Uncarried, Option<Value>)>);

impl Values {
    /// The value of `setting`.
    pub fn get(&self, setting: Uncarried) -> Option<&Value> {
        self.0
            .iter()
            .find(|(s, _)| *s == setting)
            .and_then(|(_, v)| v.as_ref())
    }

    /// The settings whose value differs between `self` (before) and `after`.
    pub fn changed(&self, after: &Values) -> Vec<Uncarried> {
        Uncarried::ALL
            .into_iter()
            .filter(|s| self.get(*s).is_some() && self.get(*s) != after.get(*s))
            .collect()
    }
}

/// The values a domain's full configuration holds of each setting the batch call cannot carry.
pub fn values(configs: &Configs) -> Values {
    let https = configs.https.as_ref();
    let text = |v: Option<&String>| Some(v.map_or(Value::Null, |s| Value::String(s.clone())));
    let block = |b: &Option<Value>| Some(b.clone().unwrap_or(Value::Null));
    let redirect_on = configs
        .force_redirect
        .as_ref()
        .is_some_and(|r| r.status.as_deref() == Some("on"));
    let code = configs
        .force_redirect
        .as_ref()
        .and_then(|r| r.redirect_code)
        .map_or(Value::Null, Value::from);
    // The TLS versions are compared on their own; the block's other fields are the ciphers.
    let ciphers = configs.https_tls_version.as_ref().map(|b| match b {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "tls_version")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    });
    Values(vec![
        (
            Uncarried::TlsVersion,
            text(https.and_then(|h| h.tls_version.as_ref())),
        ),
        (
            Uncarried::OcspStapling,
            text(https.and_then(|h| h.ocsp_stapling_status.as_ref())),
        ),
        (Uncarried::RedirectCode, redirect_on.then_some(code)),
        (Uncarried::Ciphers, block(&ciphers)),
        (Uncarried::Hsts, block(&configs.hsts)),
        (Uncarried::Quic, block(&configs.quic)),
        (Uncarried::Sni, block(&configs.sni)),
        (Uncarried::ClientCert, block(&configs.client_cert)),
    ])
}

/// Whether the https block holds an SM (national cryptography) certificate: a write of an
/// international certificate would replace it, and no GET returns its private key, so it could
/// not be put back.
pub fn sm_in_use(https: Option<&HttpsGet>) -> bool {
    let Some(h) = https else { return false };
    let sm_type = |t: Option<&str>| t == Some("server_sm");
    let present = |v: Option<&String>| v.is_some_and(|v| !v.trim().is_empty());
    sm_type(h.certificate_type.as_deref())
        || present(h.enc_certificate_value.as_ref())
        || h.certificates.iter().flatten().any(|c| {
            sm_type(c.certificate_type.as_deref()) || present(c.enc_certificate_value.as_ref())
        })
}

/// Why a domain is written with its own call instead of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alone {
    /// The request sets TLS versions or OCSP stapling, which the batch call cannot carry.
    Overrides,
    /// An origin protocol the documentation does not list.
    Origin(String),
    /// The config has no `http2_status` (sites outside the Chinese mainland): the batch call
    /// would send one.
    NoHttp2,
    /// A forced redirect the batch call cannot express (to HTTP, or an unknown type).
    Redirect,
}

impl std::fmt::Display for Alone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Alone::Overrides => f.write_str("the request sets TLS versions or OCSP stapling"),
            Alone::Origin(o) => write!(f, "origin protocol `{o}` is not one the batch call takes"),
            Alone::NoHttp2 => f.write_str("the domain has no HTTP/2 setting"),
            Alone::Redirect => f.write_str("its forced redirect cannot be sent in a batch"),
        }
    }
}

/// The batch group of a domain read in full, or why it must be written alone. What the batch
/// call cannot carry is not judged here (see [`values`]).
pub fn batch_key(configs: &Configs, overrides: &Overrides) -> Result<BatchKey, Alone> {
    if overrides.tls_version.is_some() || overrides.ocsp_stapling.is_some() {
        return Err(Alone::Overrides);
    }
    // The documented default is HTTP.
    let origin = match configs.origin_protocol.as_deref() {
        None => Origin::Http,
        Some(o) => Origin::parse(o).ok_or_else(|| Alone::Origin(o.to_string()))?,
    };
    let current = configs
        .https
        .as_ref()
        .and_then(|h| h.http2_status.as_deref());
    let http2 = match (overrides.http2, current) {
        (_, None) => return Err(Alone::NoHttp2),
        (Some(b), _) => b,
        (None, Some(s)) => s == "on",
    };
    let redirect_to_https = match &configs.force_redirect {
        None => false,
        Some(ForceRedirect { status, kind, .. }) => match (status.as_deref(), kind.as_deref()) {
            (Some("on"), Some("https")) => true,
            (Some("on"), _) => return Err(Alone::Redirect),
            _ => false,
        },
    };
    Ok(BatchKey {
        origin,
        http2,
        redirect_to_https,
    })
}

/// The batch group of a domain from its bulk-read entry alone, when the entry states every
/// setting the batch call carries unambiguously; `origin` reads its `https_status` (only 1 is
/// documented unambiguously: see [`super::learn::OriginEvidence`]). `None`: read it in full,
/// as for a leaf with an SM2 key (an SM certificate the entry shows).
pub fn detail_batch_key(
    detail: &BulkEntry,
    overrides: &Overrides,
    origin: impl Fn(i64) -> Option<Origin>,
) -> Option<BatchKey> {
    if overrides.tls_version.is_some() || overrides.ocsp_stapling.is_some() {
        return None;
    }
    if detail.leaf.as_ref().is_some_and(|l| l.sm2) {
        return None;
    }
    let origin = origin(detail.https_status?)?;
    let http2 = match (overrides.http2, detail.http2?) {
        (Some(b), _) => b,
        (None, v @ (0 | 1)) => v == 1,
        _ => return None,
    };
    let redirect_to_https = match detail.force_redirect_https? {
        0 => false,
        1 => true,
        _ => return None,
    };
    // The undocumented config, where present, must say the same.
    if let Some(c) = &detail.force_redirect_config {
        let agrees = match (redirect_to_https, c.switch) {
            (false, 0) => true,
            (true, 1) => c.redirect_type.as_deref() == Some("https"),
            _ => false,
        };
        if !agrees {
            return None;
        }
    }
    Some(BatchKey {
        origin,
        http2,
        redirect_to_https,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn configs(v: Value) -> Configs {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_batch_key_only_from_documented_values() {
        let none = Overrides::default();
        let c = configs(
            json!({"origin_protocol": "https", "https": {"http2_status": "on"},
                               "force_redirect": {"status": "on", "type": "https", "redirect_code": 302}}),
        );
        assert_eq!(
            batch_key(&c, &none),
            Ok(BatchKey {
                origin: Origin::Https,
                http2: true,
                redirect_to_https: true
            })
        );
        // The request's HTTP/2 wins; TLS or OCSP overrides cannot be batched.
        let off = Overrides {
            http2: Some(false),
            ..Default::default()
        };
        assert!(!batch_key(&c, &off).unwrap().http2);
        let tls = Overrides {
            tls_version: Some("TLSv1.3".into()),
            ..Default::default()
        };
        assert_eq!(batch_key(&c, &tls), Err(Alone::Overrides));
        // No http2_status: never read as off.
        let outside = configs(json!({"origin_protocol": "http", "https": {"https_status": "on"}}));
        assert_eq!(batch_key(&outside, &none), Err(Alone::NoHttp2));
        assert_eq!(
            batch_key(&outside, &off),
            Err(Alone::NoHttp2),
            "the request cannot add HTTP/2 where the site has none"
        );
        let odd = configs(json!({"origin_protocol": "ftp", "https": {"http2_status": "off"}}));
        assert_eq!(batch_key(&odd, &none), Err(Alone::Origin("ftp".into())));
        let to_http = configs(json!({"https": {"http2_status": "off"},
                                     "force_redirect": {"status": "on", "type": "http"}}));
        assert_eq!(batch_key(&to_http, &none), Err(Alone::Redirect));
        let plain = configs(json!({"https": {"http2_status": "off"}}));
        assert_eq!(
            batch_key(&plain, &none),
            Ok(BatchKey {
                origin: Origin::Http,
                http2: false,
                redirect_to_https: false
            })
        );
    }

    fn detail(v: Value) -> BulkEntry {
        let mut v = v;
        v["domain_name"] = json!("a.example.com");
        BulkEntry::new(serde_json::from_value(v).unwrap(), crate::cert::leaf_facts)
    }

    #[test]
    fn the_bulk_read_gives_a_key_only_when_it_states_everything() {
        let none = Overrides::default();
        let documented = |s: i64| (s == 1).then_some(Origin::Follow);
        let d = detail(json!({"https_status": 1, "http2": 1, "force_redirect_https": 1}));
        let key = detail_batch_key(&d, &none, documented).unwrap();
        assert_eq!(
            (key.origin, key.http2, key.redirect_to_https),
            (Origin::Follow, true, true)
        );
        assert_eq!(key.redirect_config().switch, 1);
        // 2 may be an HTTPS origin: the evidence decides, not the documentation.
        let two = detail(json!({"https_status": 2, "http2": 0, "force_redirect_https": 0}));
        assert_eq!(detail_batch_key(&two, &none, documented), None);
        let proven = |s: i64| match s {
            1 => Some(Origin::Follow),
            2 => Some(Origin::Http),
            3 => Some(Origin::Https),
            _ => None,
        };
        assert_eq!(
            detail_batch_key(&two, &none, proven).unwrap().origin,
            Origin::Http
        );
        // Missing HTTP/2, a redirect to HTTP, an absent redirect, or a config that disagrees.
        for v in [
            json!({"https_status": 1, "force_redirect_https": 0}),
            json!({"https_status": 1, "http2": 0, "force_redirect_https": 2}),
            json!({"https_status": 1, "http2": 0}),
            json!({"https_status": 1, "http2": 0, "force_redirect_https": 0,
                   "force_redirect_config": {"switch": 1, "redirect_type": "https"}}),
            json!({"https_status": 0, "http2": 0, "force_redirect_https": 0}),
        ] {
            assert_eq!(
                detail_batch_key(&detail(v.clone()), &none, proven),
                None,
                "{v}"
            );
        }
        let agrees = detail(
            json!({"https_status": 1, "http2": 0, "force_redirect_https": 1,
                                   "force_redirect_config": {"switch": 1, "redirect_type": "https"}}),
        );
        assert!(detail_batch_key(&agrees, &none, proven).is_some());
        let sm2 = detail(
            json!({"https_status": 1, "http2": 0, "force_redirect_https": 0,
            "certificate": include_str!("../../tests/fixtures/sm2-sign.pem")}),
        );
        assert!(sm2.leaf.as_ref().unwrap().sm2);
        assert_eq!(
            detail_batch_key(&sm2, &none, proven),
            None,
            "an SM certificate"
        );
    }

    #[test]
    fn values_hold_what_the_batch_cannot_carry() {
        let c = configs(json!({
            "https": {"tls_version": "TLSv1.2,TLSv1.3", "ocsp_stapling_status": "on"},
            "force_redirect": {"status": "off", "redirect_code": 302},
            "https_tls_version": {"tls_version": "TLSv1.2,TLSv1.3", "cipher_suite_group": "strict"},
            "hsts": {"status": "on", "max_age": 600, "include_subdomains": "off"}
        }));
        let v = values(&c);
        assert_eq!(
            v.get(Uncarried::TlsVersion),
            Some(&json!("TLSv1.2,TLSv1.3"))
        );
        assert_eq!(
            v.get(Uncarried::RedirectCode),
            None,
            "off: the code does not apply"
        );
        assert_eq!(
            v.get(Uncarried::Ciphers),
            Some(&json!({"cipher_suite_group": "strict"}))
        );
        assert_eq!(
            v.get(Uncarried::Quic),
            Some(&Value::Null),
            "not in the config"
        );
        let mut after = c.clone();
        after.hsts = Some(json!({"status": "off"}));
        after.https.as_mut().unwrap().tls_version = Some("TLSv1.1,TLSv1.2,TLSv1.3".into());
        assert_eq!(
            v.changed(&values(&after)),
            vec![Uncarried::TlsVersion, Uncarried::Hsts]
        );
        let on = configs(
            json!({"force_redirect": {"status": "on", "type": "https", "redirect_code": 301}}),
        );
        assert_eq!(values(&on).get(Uncarried::RedirectCode), Some(&json!(301)));
    }

    #[test]
    fn sm_certificates_are_seen_in_any_of_their_forms() {
        let h = |v: Value| -> HttpsGet { serde_json::from_value(v).unwrap() };
        assert!(!sm_in_use(None));
        assert!(!sm_in_use(Some(&h(json!({"certificate_type": "server"})))));
        assert!(sm_in_use(Some(&h(
            json!({"certificate_type": "server_sm"})
        ))));
        assert!(sm_in_use(Some(&h(
            json!({"certificate_type": "server", "enc_certificate_value": "-----BEGIN"})
        ))));
        assert!(sm_in_use(Some(&h(json!({"certificate_type": "server",
            "certificates": [{"certificate_type": "server"}, {"certificate_type": "server_sm"}]})))));
        assert!(!sm_in_use(Some(&h(
            json!({"enc_certificate_value": " ", "certificates": []})
        ))));
    }
}
