//! What a write must keep of a domain, read from what the API documents and nothing else.
//!
//! UpdateDomainMultiCertificates (the batch call) carries the origin protocol, HTTP/2 and the
//! forced redirect (switch and type), and resets what it is not sent; [`BatchKey`] is what a
//! batched domain is sent, grouped by. It cannot carry TLS versions, OCSP stapling, the redirect
//! code, cipher suites, HSTS, QUIC, origin SNI or client certificates, and its reference does
//! not say what it does to them. So a domain is batched only when it holds the documented
//! default of each of those ([`at_risk`] is empty): then every reading leaves it as it is.
//! [`view`] normalizes a domain's settings (an absent block and its default are one value),
//! [`changes`] compares two reads for the proof of a write, and [`class_of`] groups domains
//! that any write treats alike.
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

/// The TLS versions the CDN falls back to where a config names none (documented).
pub const DEFAULT_TLS: &str = "TLSv1.1,TLSv1.2,TLSv1.3";

/// A setting a deployment must keep, as the proof of a write compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setting {
    Origin,
    Http2,
    /// The forced redirect's switch and type.
    Redirect,
    /// The forced redirect's code (301/302), where the redirect is on.
    RedirectCode,
    /// From `https.tls_version` and `https_tls_version.tls_version`, wherever the config has it.
    TlsVersion,
    OcspStapling,
    /// `https_tls_version`'s cipher suite group and suites.
    Ciphers,
    Hsts,
    Quic,
    Sni,
    ClientCert,
}

impl Setting {
    pub const ALL: [Setting; 11] = [
        Setting::Origin,
        Setting::Http2,
        Setting::Redirect,
        Setting::RedirectCode,
        Setting::TlsVersion,
        Setting::OcspStapling,
        Setting::Ciphers,
        Setting::Hsts,
        Setting::Quic,
        Setting::Sni,
        Setting::ClientCert,
    ];

    /// The name logs, messages and results use.
    pub fn name(self) -> &'static str {
        match self {
            Setting::Origin => "origin_protocol",
            Setting::Http2 => "http2",
            Setting::Redirect => "force_redirect",
            Setting::RedirectCode => "redirect_code",
            Setting::TlsVersion => "tls_version",
            Setting::OcspStapling => "ocsp_stapling",
            Setting::Ciphers => "cipher_suites",
            Setting::Hsts => "hsts",
            Setting::Quic => "quic",
            Setting::Sni => "origin_sni",
            Setting::ClientCert => "client_cert",
        }
    }

    /// Whether UpdateDomainMultiCertificates carries it (origin, HTTP/2, the redirect's switch
    /// and type); what it does to the others its reference does not say.
    pub fn batch_carries(self) -> bool {
        matches!(self, Setting::Origin | Setting::Http2 | Setting::Redirect)
    }
}

/// A domain's settings, each normalized so that an absent block and its documented default
/// (or, for a switch the docs give no default, `off`) are one value: `Value::Null` stands for
/// "off / the default" wherever the docs allow no other reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View(pub Vec<(Setting, Value)>);

impl View {
    /// The normalized value of `setting`.
    pub fn get(&self, setting: Setting) -> &Value {
        self.0
            .iter()
            .find(|(s, _)| *s == setting)
            .map_or(&Value::Null, |(_, v)| v)
    }
}

/// One setting that differs between two reads of a domain.
pub use crate::result::SettingChange as Change;

/// A switch block (`hsts`, `quic`, `sni`, `client_cert`): absent and `off` are one value.
fn switch_block(b: Option<&Value>) -> Value {
    match b {
        None | Some(Value::Null) => Value::Null,
        Some(v) if v.get("status").and_then(Value::as_str) == Some("off") => Value::Null,
        Some(v) => v.clone(),
    }
}

/// The TLS versions of each place the docs put them: `https.tls_version`, then
/// `https_tls_version.tls_version`.
fn tls_places(configs: &Configs) -> [Option<String>; 2] {
    [
        configs.https.as_ref().and_then(|h| h.tls_version.clone()),
        configs
            .https_tls_version
            .as_ref()
            .and_then(|b| b.get("tls_version"))
            .and_then(Value::as_str)
            .map(str::to_string),
    ]
}

/// The TLS versions wherever the config carries them; both places are one value when they
/// agree, and none is the documented default.
pub fn tls_versions(configs: &Configs) -> Value {
    let mut found: Vec<String> = Vec::new();
    for v in tls_places(configs).into_iter().flatten() {
        let v: String = v.split(',').map(str::trim).collect::<Vec<_>>().join(",");
        if !v.is_empty() && !found.contains(&v) {
            found.push(v);
        }
    }
    match found.len() {
        0 => Value::from(DEFAULT_TLS),
        1 => Value::from(found.remove(0)),
        _ => Value::from(found),
    }
}

/// The TLS versions a write should keep: the config's, from either place.
pub fn tls_to_keep(configs: &Configs) -> Option<String> {
    tls_places(configs).into_iter().flatten().next()
}

/// `https_tls_version` without its TLS versions: the cipher suites, with the group named
/// `default` (and no suites) the same as no block.
fn ciphers(configs: &Configs) -> Value {
    let Some(Value::Object(m)) = configs.https_tls_version.as_ref() else {
        return Value::Null;
    };
    let mut m = m.clone();
    m.remove("tls_version");
    m.retain(|_, v| !v.is_null() && v.as_str() != Some(""));
    if m.get("cipher_suite_group").and_then(Value::as_str) == Some("default")
        && !m.contains_key("cipher_suite")
    {
        m.remove("cipher_suite_group");
    }
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

/// Every setting of a domain's full configuration, normalized.
pub fn view(configs: &Configs) -> View {
    let https = configs.https.as_ref();
    let redirect_on = configs
        .force_redirect
        .as_ref()
        .is_some_and(|r| r.status.as_deref() == Some("on"));
    let redirect = match &configs.force_redirect {
        Some(r) if redirect_on => serde_json::json!({"status": "on", "type": r.kind}),
        _ => Value::from("off"),
    };
    let code = match &configs.force_redirect {
        Some(r) if redirect_on => r.redirect_code.map_or(Value::from("unset"), Value::from),
        _ => Value::Null,
    };
    let text = |v: Option<&String>, default: Value| v.map_or(default, |s| Value::from(s.as_str()));
    View(vec![
        (
            Setting::Origin,
            text(configs.origin_protocol.as_ref(), Value::from("http")),
        ),
        // No HTTP/2 setting (sites outside the Chinese mainland) is never read as off.
        (
            Setting::Http2,
            text(https.and_then(|h| h.http2_status.as_ref()), Value::Null),
        ),
        (Setting::Redirect, redirect),
        (Setting::RedirectCode, code),
        (Setting::TlsVersion, tls_versions(configs)),
        (
            Setting::OcspStapling,
            text(
                https.and_then(|h| h.ocsp_stapling_status.as_ref()),
                Value::from("off"),
            ),
        ),
        (Setting::Ciphers, ciphers(configs)),
        (Setting::Hsts, switch_block(configs.hsts.as_ref())),
        (Setting::Quic, switch_block(configs.quic.as_ref())),
        (Setting::Sni, switch_block(configs.sni.as_ref())),
        (
            Setting::ClientCert,
            switch_block(configs.client_cert.as_ref()),
        ),
    ])
}

/// The settings the batch call cannot carry that the domain holds at anything but the
/// documented default (or `off`): the batch call could lose them under some reading the docs
/// allow, so such a domain is written with its own call. A forced redirect's code counts
/// whenever the redirect is on: the docs give it no default, and the batch call cannot send it.
pub fn at_risk(view: &View) -> Vec<Setting> {
    Setting::ALL
        .into_iter()
        .filter(|s| !s.batch_carries())
        .filter(|s| {
            let v = view.get(*s);
            match s {
                Setting::TlsVersion => v.as_str() != Some(DEFAULT_TLS),
                Setting::OcspStapling => v.as_str() != Some("off"),
                _ => !v.is_null(),
            }
        })
        .collect()
}

/// The settings that differ between `before` and `after`, apart from what the request asked to
/// change.
pub fn changes(before: &View, after: &View, overrides: &Overrides) -> Vec<Change> {
    let switch = |b: bool| Value::from(if b { "on" } else { "off" });
    Setting::ALL
        .into_iter()
        .filter(|s| {
            let asked = match s {
                Setting::Http2 => overrides.http2.map(switch),
                Setting::TlsVersion => overrides.tls_version.clone().map(Value::from),
                Setting::OcspStapling => overrides.ocsp_stapling.map(switch),
                _ => None,
            };
            // HTTP/2 asked of a site that has none is not sent: it stays as it was.
            let expected = match asked {
                Some(a) if !(*s == Setting::Http2 && before.get(*s).is_null()) => a,
                _ => before.get(*s).clone(),
            };
            &expected != after.get(*s)
        })
        .map(|s| Change {
            setting: s.name(),
            before: before.get(s).clone(),
            after: after.get(s).clone(),
        })
        .collect()
}

/// The class of a domain for the proof of a batched write: the shape of what it holds (which
/// blocks, on or off or absent, and where its TLS versions are), not their values. A batched
/// domain holds only defaults, so these are few; a batch write proven on one domain of a class
/// is trusted on the others.
pub fn class_of(configs: &Configs) -> String {
    class(configs, true)
}

/// The class of a domain for the proof of a per-domain write, which carries every block the
/// domain has: which blocks it has (and where its TLS versions are), not what they hold.
pub fn alone_class_of(configs: &Configs) -> String {
    class(configs, false)
}

fn class(configs: &Configs, switches: bool) -> String {
    let shape = |b: Option<&Value>| match b {
        None | Some(Value::Null) => "-".to_string(),
        Some(_) if !switches => "y".to_string(),
        Some(v) => match v.get("status").and_then(Value::as_str) {
            Some(s) => s.to_string(),
            None => {
                let mut keys: Vec<&str> = v
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                keys.sort_unstable();
                keys.join("+")
            }
        },
    };
    let https = configs.https.as_ref();
    let has = |v: Option<&String>| if v.is_some() { "y" } else { "-" };
    format!(
        "origin:{} http2:{} redirect:{} tls:{}{} ocsp:{} ciphers:{} hsts:{} quic:{} sni:{} client_cert:{}",
        has(configs.origin_protocol.as_ref()),
        has(https.and_then(|h| h.http2_status.as_ref())),
        match &configs.force_redirect {
            None => "-",
            Some(_) if !switches => "y",
            Some(r) => r.status.as_deref().unwrap_or("?"),
        },
        has(https.and_then(|h| h.tls_version.as_ref())),
        if configs
            .https_tls_version
            .as_ref()
            .and_then(|b| b.get("tls_version"))
            .is_some()
        {
            "y"
        } else {
            "-"
        },
        match https.and_then(|h| h.ocsp_stapling_status.as_deref()) {
            None => "-",
            Some(_) if !switches => "y",
            Some(s) => s,
        },
        shape(configs.https_tls_version.as_ref()),
        shape(configs.hsts.as_ref()),
        shape(configs.quic.as_ref()),
        shape(configs.sni.as_ref()),
        shape(configs.client_cert.as_ref()),
    )
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
    /// Settings the batch call cannot carry, held at other than their default.
    Holds(Vec<Setting>),
}

impl std::fmt::Display for Alone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Alone::Overrides => f.write_str("the request sets TLS versions or OCSP stapling"),
            Alone::Origin(o) => write!(f, "origin protocol `{o}` is not one the batch call takes"),
            Alone::NoHttp2 => f.write_str("the domain has no HTTP/2 setting"),
            Alone::Redirect => f.write_str("its forced redirect cannot be sent in a batch"),
            Alone::Holds(settings) => write!(
                f,
                "it holds {}, which the batch call cannot carry",
                settings
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The batch group of a domain read in full, or why it must be written alone: the batch call
/// is used only where every reading the docs allow leaves every setting as it is, so a domain
/// holding anything but the default of what the call cannot carry ([`at_risk`]) is written
/// with its own call.
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
    let risk = at_risk(&view(configs));
    if !risk.is_empty() {
        return Err(Alone::Holds(risk));
    }
    Ok(BatchKey {
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
                               "force_redirect": {"status": "off"}}),
        );
        assert_eq!(
            batch_key(&c, &none),
            Ok(BatchKey {
                origin: Origin::Https,
                http2: true,
                redirect_to_https: false
            })
        );
        // A redirect on has a code the batch call cannot send, and no documented default.
        let on = configs(json!({"https": {"http2_status": "on"},
                   "force_redirect": {"status": "on", "type": "https", "redirect_code": 302}}));
        assert_eq!(
            batch_key(&on, &none),
            Err(Alone::Holds(vec![Setting::RedirectCode]))
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

    #[test]
    fn absent_and_default_are_one_value_and_anything_else_is_at_risk() {
        let bare = configs(json!({"https": {"https_status": "on", "http2_status": "off"}}));
        let defaults = configs(json!({
            "origin_protocol": "http",
            "https": {"https_status": "on", "http2_status": "off",
                      "tls_version": "TLSv1.1,TLSv1.2,TLSv1.3", "ocsp_stapling_status": "off"},
            "force_redirect": {"status": "off", "redirect_code": 302},
            "https_tls_version": {"tls_version": "TLSv1.1, TLSv1.2,TLSv1.3", "cipher_suite_group": "default"},
            "hsts": {"status": "off", "max_age": 600},
            "quic": {"status": "off"}, "sni": {"status": "off"}, "client_cert": {"status": "off"}
        }));
        assert_eq!(view(&bare), view(&defaults));
        assert!(at_risk(&view(&bare)).is_empty());
        assert_ne!(class_of(&bare), class_of(&defaults), "the shapes differ");
        let held = configs(json!({
            "https": {"http2_status": "on", "ocsp_stapling_status": "on"},
            "force_redirect": {"status": "on", "type": "https", "redirect_code": 301},
            "https_tls_version": {"tls_version": "TLSv1.2,TLSv1.3", "cipher_suite_group": "strict"},
            "hsts": {"status": "on", "max_age": 600, "include_subdomains": "off"},
            "quic": {"status": "on"},
            "sni": {"status": "on", "server_name": "o.example.com"},
            "client_cert": {"status": "on", "trusted_cert": "CA"}
        }));
        let v = view(&held);
        // TLS versions only in https_tls_version are read from there.
        assert_eq!(v.get(Setting::TlsVersion), &json!("TLSv1.2,TLSv1.3"));
        assert_eq!(
            v.get(Setting::Ciphers),
            &json!({"cipher_suite_group": "strict"})
        );
        assert_eq!(
            at_risk(&v),
            vec![
                Setting::RedirectCode,
                Setting::TlsVersion,
                Setting::OcspStapling,
                Setting::Ciphers,
                Setting::Hsts,
                Setting::Quic,
                Setting::Sni,
                Setting::ClientCert
            ]
        );
        assert!(matches!(
            batch_key(&held, &Overrides::default()),
            Err(Alone::Holds(h)) if h.len() == 8
        ));
        // Two places that disagree are both kept in view.
        let mut split = held.clone();
        split.https.as_mut().unwrap().tls_version = Some("TLSv1.3".into());
        assert_eq!(
            view(&split).get(Setting::TlsVersion),
            &json!(["TLSv1.3", "TLSv1.2,TLSv1.3"])
        );
    }

    #[test]
    fn changes_name_what_the_request_did_not_ask_for() {
        let before = configs(json!({
            "https": {"http2_status": "on", "tls_version": "TLSv1.2,TLSv1.3", "ocsp_stapling_status": "on"},
            "hsts": {"status": "on", "max_age": 600, "include_subdomains": "on"}
        }));
        let none = Overrides::default();
        assert!(changes(&view(&before), &view(&before), &none).is_empty());
        let mut after = before.clone();
        after.hsts = None;
        after.https.as_mut().unwrap().http2_status = Some("off".into());
        let c = changes(&view(&before), &view(&after), &none);
        assert_eq!(
            c.iter().map(|c| c.setting).collect::<Vec<_>>(),
            ["http2", "hsts"]
        );
        assert_eq!(c[1].before["max_age"], 600);
        assert_eq!(c[1].after, Value::Null);
        // Asked for: not a change; asked but not done: a change.
        let off = Overrides {
            http2: Some(false),
            ..Default::default()
        };
        assert_eq!(changes(&view(&before), &view(&after), &off).len(), 1);
        let on = Overrides {
            http2: Some(true),
            ..Default::default()
        };
        assert_eq!(changes(&view(&before), &view(&before), &on).len(), 0);
        assert_eq!(changes(&view(&before), &view(&after), &on).len(), 2);
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
