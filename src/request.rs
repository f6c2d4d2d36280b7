//! The deploy request: parsed strictly (a typo must not be ignored), merged with the configured
//! defaults, validated and normalized. Pure.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::secret::Secret;
use crate::source::keys::KeysSource;
use crate::source::CertificateSource;
use crate::trust::Trust;
use crate::workflow::WorkflowRun;

/// Which domains a request deploys to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// The listed domains.
    #[default]
    Exact,
    /// Every CDN domain of the account that the certificate covers.
    Certsan,
}

/// The certificate to deploy, as the request gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateInput {
    /// A PEM chain (leaf first) and its private key.
    Pem { chain: String, private_key: Secret },
    /// A certificate already in Cloud Certificate Manager.
    Scm { id: String },
    /// A store to read the certificate from at run time.
    Source(CertificateSource),
    /// No certificate: only a doctor run may leave it out ([`parse_doctor`]).
    None,
}

/// `options` of a request, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub force: bool,
    pub dry_run: bool,
    pub wait: bool,
    pub time_budget_secs: Option<u64>,
    /// `None` keeps each domain's current value.
    pub http2: Option<bool>,
    pub tls_version: Option<String>,
    pub ocsp_stapling: Option<bool>,
    /// A run that is not `ok` ends as an invocation error (so Lambda retries and on-failure
    /// destinations fire when chained).
    pub fail_on_error: bool,
    /// A domain still serving a certificate that expires within this many days after the run
    /// is flagged `expiring`.
    pub warn_days: u32,
    /// Accepted for requests written for earlier versions, and changes nothing: every domain is
    /// read in full before its write, since the bulk read cannot show what a write could lose.
    pub no_sm_certificates: bool,
    /// After the run, a TLS handshake to each live domain's CDN edge records what it serves.
    pub verify_edge: bool,
    /// `"any"` skips the trust check of the chain (named in the result).
    pub trust: Trust,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            force: false,
            dry_run: false,
            wait: true,
            time_budget_secs: None,
            http2: None,
            tls_version: None,
            ocsp_stapling: None,
            fail_on_error: false,
            warn_days: 21,
            no_sm_certificates: false,
            verify_edge: false,
            trust: Trust::Verify,
        }
    }
}

/// A valid, normalized deploy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// Lower-case, without trailing dot, duplicates removed, in request order.
    pub domains: Vec<String>,
    pub match_mode: MatchMode,
    pub certificate: CertificateInput,
    pub certificate_name: Option<String>,
    pub enterprise_project_id: Option<String>,
    /// Where the account's keys live (`huawei_credentials`); the environment's keys otherwise.
    pub huawei_credentials: Option<KeysSource>,
    pub options: Options,
    /// What the Step Functions workflow says of the run (`workflow`): its answer is compact
    /// and the account's tally goes on ([`crate::workflow`]).
    pub workflow: Option<WorkflowRun>,
}

/// A request that cannot be run; `field` names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RequestError {
    pub field: String,
    pub message: String,
}

impl From<crate::error::FieldError> for RequestError {
    fn from(e: crate::error::FieldError) -> Self {
        Self::new(e.field, e.message)
    }
}

impl RequestError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How unknown fields are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// A request sent to us: an unknown field is an error.
    Strict,
    /// Another function's output (a chained payload): unknown fields are dropped with a warning.
    Lenient,
}

/// The top-level fields of a request.
pub const TOP_FIELDS: &[&str] = &[
    "domains",
    "match",
    "certificate",
    "private_key",
    "certificate_name",
    "scm_certificate_id",
    "certificate_source",
    "enterprise_project_id",
    "huawei_credentials",
    "options",
    "workflow",
];
const OPTION_FIELDS: &[&str] = &[
    "force",
    "dry_run",
    "wait",
    "time_budget_secs",
    "http2",
    "tls_version",
    "ocsp_stapling",
    "fail_on_error",
    "warn_days",
    "no_sm_certificates",
    "verify_edge",
    "trust",
];
const CERT_FIELDS: &[&str] = &[
    "certificate",
    "private_key",
    "scm_certificate_id",
    "certificate_source",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    #[serde(default)]
    domains: Option<Domains>,
    #[serde(default, rename = "match")]
    match_mode: Option<MatchMode>,
    #[serde(default)]
    certificate: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
    #[serde(default)]
    certificate_name: Option<String>,
    #[serde(default)]
    scm_certificate_id: Option<String>,
    #[serde(default)]
    certificate_source: Option<CertificateSource>,
    #[serde(default)]
    enterprise_project_id: Option<String>,
    #[serde(default)]
    huawei_credentials: Option<KeysSource>,
    #[serde(default)]
    options: Option<RawOptions>,
    #[serde(default)]
    workflow: Option<WorkflowRun>,
}

/// A list of names, or one comma-separated string (as webhook senders write it).
#[derive(Deserialize)]
#[serde(untagged)]
enum Domains {
    List(Vec<String>),
    Joined(String),
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    #[serde(default)]
    force: Option<bool>,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    wait: Option<bool>,
    #[serde(default)]
    time_budget_secs: Option<u64>,
    #[serde(default)]
    http2: Option<Switch>,
    #[serde(default)]
    tls_version: Option<String>,
    #[serde(default)]
    ocsp_stapling: Option<Switch>,
    #[serde(default)]
    fail_on_error: Option<bool>,
    #[serde(default)]
    warn_days: Option<u32>,
    #[serde(default)]
    no_sm_certificates: Option<bool>,
    #[serde(default)]
    verify_edge: Option<bool>,
    #[serde(default)]
    trust: Option<String>,
}

/// `true`/`false` or the CDN's own `"on"`/`"off"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Switch {
    Bool(bool),
    Word(String),
}

impl Switch {
    fn to_bool(&self, field: &str) -> Result<bool, RequestError> {
        match self {
            Switch::Bool(b) => Ok(*b),
            Switch::Word(w) if w.eq_ignore_ascii_case("on") => Ok(true),
            Switch::Word(w) if w.eq_ignore_ascii_case("off") => Ok(false),
            Switch::Word(w) => Err(RequestError::new(
                field,
                format!("`{w}` is not true, false, \"on\" or \"off\""),
            )),
        }
    }
}

/// The paths of fields a request carries that the contract does not know (`options.forse`).
pub fn unknown_fields(request: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(obj) = request.as_object() {
        for (k, v) in obj {
            if !TOP_FIELDS.contains(&k.as_str()) {
                out.push(k.clone());
            } else if k == "options" {
                if let Some(opts) = v.as_object() {
                    out.extend(
                        opts.keys()
                            .filter(|o| !OPTION_FIELDS.contains(&o.as_str()))
                            .map(|o| format!("options.{o}")),
                    );
                }
            }
        }
    }
    out
}

/// Removes the fields [`unknown_fields`] lists (for lenient parsing).
fn strip_unknown(request: &mut Value) {
    if let Some(obj) = request.as_object_mut() {
        obj.retain(|k, _| TOP_FIELDS.contains(&k.as_str()));
        if let Some(Value::Object(opts)) = obj.get_mut("options") {
            opts.retain(|k, _| OPTION_FIELDS.contains(&k.as_str()));
        }
    }
}

/// Fills what `event` leaves out from `defaults` (the `DEPLOY_REQUEST` configuration). The
/// event's own fields win; `options` merge field by field; a certificate in the event (PEM pair or
/// SCM id) replaces the default's certificate as a whole; a `null` in the event counts as absent.
pub fn merge_defaults(defaults: &Value, event: &Value) -> Value {
    let (Some(d), Some(e)) = (defaults.as_object(), event.as_object()) else {
        return event.clone();
    };
    let event_has_cert = CERT_FIELDS
        .iter()
        .any(|f| e.get(*f).is_some_and(|v| !v.is_null()));
    let mut out: Map<String, Value> = d
        .iter()
        .filter(|(k, _)| !(event_has_cert && CERT_FIELDS.contains(&k.as_str())))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in e {
        if v.is_null() {
            continue;
        }
        match (k.as_str(), out.get_mut(k), v) {
            ("options", Some(Value::Object(base)), Value::Object(over)) => {
                for (ok, ov) in over {
                    if !ov.is_null() {
                        base.insert(ok.clone(), ov.clone());
                    }
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Parses and validates a request (after [`merge_defaults`]). In [`Strictness::Lenient`] mode the
/// unknown fields are returned for the caller to log instead of failing the request.
pub fn parse(
    value: Value,
    strictness: Strictness,
) -> Result<(DeployRequest, Vec<String>), RequestError> {
    parse_with(value, strictness, Need::Certificate)
}

/// A doctor request (SPEC section 12): a deployment request whose certificate may be left out,
/// with `action: "doctor"` and `all` (every domain of the account).
#[derive(Debug, Clone)]
pub struct DoctorRequest {
    pub request: DeployRequest,
    pub all: bool,
}

/// Whether a request asks for a doctor run (`"action": "doctor"`).
pub fn is_doctor(value: &Value) -> bool {
    value.get("action").and_then(Value::as_str) == Some("doctor")
}

/// Parses a doctor request; its `action` and `all` are its own, the rest is a deployment
/// request (`domains` may be empty with `all`).
pub fn parse_doctor(
    mut value: Value,
    strictness: Strictness,
) -> Result<(DoctorRequest, Vec<String>), RequestError> {
    let (all, action) = match value.as_object_mut() {
        Some(o) => (o.remove("all"), o.remove("action")),
        None => (None, None),
    };
    if let Some(a) = action.filter(|a| a != "doctor") {
        return Err(RequestError::new(
            "action",
            format!("`{a}`: the only action is \"doctor\""),
        ));
    }
    let all = match all {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(RequestError::new(
                "all",
                format!("expected true or false, got {other}"),
            ))
        }
    };
    if all {
        if let Some(o) = value.as_object_mut() {
            // Every domain of the account: the listing decides, as certsan does.
            o.entry("match")
                .or_insert_with(|| Value::String("certsan".into()));
        }
    }
    let (request, unknown) = parse_with(value, strictness, Need::Nothing)?;
    Ok((DoctorRequest { request, all }, unknown))
}

/// What a request must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Certificate,
    Nothing,
}

fn parse_with(
    mut value: Value,
    strictness: Strictness,
    need: Need,
) -> Result<(DeployRequest, Vec<String>), RequestError> {
    if !value.is_object() {
        return Err(RequestError::new(
            "request",
            "expected a JSON object with `domains` and a certificate",
        ));
    }
    let unknown = unknown_fields(&value);
    match (strictness, unknown.first()) {
        (Strictness::Strict, Some(first)) => {
            return Err(RequestError::new(
                first.clone(),
                "unknown field (check its spelling; unknown fields are not ignored)",
            ))
        }
        (Strictness::Lenient, Some(_)) => strip_unknown(&mut value),
        _ => {}
    }
    let raw: RawRequest = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "request".to_string()
        } else {
            path
        };
        RequestError::new(
            field,
            crate::redact::serde_message(&strip_location(&e.inner().to_string())),
        )
    })?;
    Ok((validate(raw, need)?, unknown))
}

fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn validate(raw: RawRequest, need: Need) -> Result<DeployRequest, RequestError> {
    let match_mode = raw.match_mode.unwrap_or_default();
    let domains = requested_domains(raw.domains, match_mode)?;
    let certificate = match raw.certificate_source {
        Some(source) => source_input(
            source,
            &raw.certificate,
            &raw.private_key,
            &raw.scm_certificate_id,
        )?,
        None => inline_input(
            raw.certificate,
            raw.private_key,
            raw.scm_certificate_id,
            need,
        )?,
    };
    let certificate_name = non_empty(raw.certificate_name).map(|n| n.trim().to_string());
    if let Some(n) = &certificate_name {
        let len = n.chars().count();
        if !(3..=64).contains(&len) {
            return Err(RequestError::new(
                "certificate_name",
                format!("must be 3 to 64 characters, got {len}"),
            ));
        }
    }
    let options = options(raw.options.unwrap_or_default())?;
    let huawei_credentials = raw.huawei_credentials;
    if let Some(k) = &huawei_credentials {
        k.check().map_err(RequestError::from)?;
    }
    Ok(DeployRequest {
        domains,
        match_mode,
        certificate,
        certificate_name,
        enterprise_project_id: non_empty(raw.enterprise_project_id),
        huawei_credentials,
        workflow: raw.workflow,
        options,
    })
}

/// A value that says something: blank is absent.
fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// The domains as listed (or one joined string), normalized; none only with `certsan`.
fn requested_domains(
    domains: Option<Domains>,
    match_mode: MatchMode,
) -> Result<Vec<String>, RequestError> {
    let names = match domains {
        None => Vec::new(),
        Some(Domains::List(v)) => v,
        Some(Domains::Joined(s)) => s
            .split([',', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    };
    let domains = normalize_domains(&names)?;
    if domains.is_empty() && match_mode == MatchMode::Exact {
        return Err(RequestError::new(
            "domains",
            "at least one domain is required (or \"match\": \"certsan\")",
        ));
    }
    Ok(domains)
}

/// A certificate named by its store: then nothing of it may be sent inline.
fn source_input(
    source: CertificateSource,
    certificate: &Option<String>,
    private_key: &Option<String>,
    scm_certificate_id: &Option<String>,
) -> Result<CertificateInput, RequestError> {
    let inline = [
        ("certificate", certificate),
        ("private_key", private_key),
        ("scm_certificate_id", scm_certificate_id),
    ];
    if let Some((name, _)) = inline
        .iter()
        .find(|(_, v)| v.as_deref().is_some_and(|s| !s.trim().is_empty()))
    {
        return Err(RequestError::new(
            "certificate_source",
            format!("give either `certificate_source` or `{name}`, not both"),
        ));
    }
    source.check().map_err(RequestError::from)?;
    Ok(CertificateInput::Source(source))
}

const MISSING_CERTIFICATE: &str =
    "missing: give `certificate` + `private_key` (PEM), `scm_certificate_id` or `certificate_source`";

/// A certificate sent inline: a PEM pair or an SCM id, one of the two (or none, where `need`
/// allows: a doctor run).
fn inline_input(
    certificate: Option<String>,
    private_key: Option<String>,
    scm_certificate_id: Option<String>,
    need: Need,
) -> Result<CertificateInput, RequestError> {
    let both = "give either `certificate` + `private_key` or `scm_certificate_id`, not both";
    match (
        non_empty(certificate),
        non_empty(private_key),
        non_empty(scm_certificate_id),
    ) {
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            Err(RequestError::new("scm_certificate_id", both))
        }
        (Some(chain), Some(key), None) => Ok(CertificateInput::Pem {
            chain,
            private_key: Secret::new(key),
        }),
        (Some(_), None, None) => Err(RequestError::new(
            "private_key",
            "required with `certificate`",
        )),
        (None, Some(_), None) => Err(RequestError::new(
            "certificate",
            "required with `private_key`",
        )),
        (None, None, Some(id)) => {
            let id = id.trim().to_string();
            if !crate::source::spec::scm_id_ok(&id) {
                return Err(RequestError::new(
                    "scm_certificate_id",
                    crate::source::spec::scm_id_message(&id),
                ));
            }
            Ok(CertificateInput::Scm { id })
        }
        (None, None, None) if need == Need::Nothing => Ok(CertificateInput::None),
        (None, None, None) => Err(RequestError::new("certificate", MISSING_CERTIFICATE)),
    }
}

/// The options, each absent one at its default.
fn options(o: RawOptions) -> Result<Options, RequestError> {
    if o.time_budget_secs == Some(0) {
        return Err(RequestError::new(
            "options.time_budget_secs",
            "must be at least 1",
        ));
    }
    let tls_version = non_empty(o.tls_version)
        .map(|t| normalize_tls_versions(&t))
        .transpose()?;
    let trust = o
        .trust
        .as_deref()
        .map(Trust::parse)
        .transpose()
        .map_err(|m| RequestError::new("options.trust", m))?
        .unwrap_or_default();
    let defaults = Options::default();
    Ok(Options {
        force: o.force.unwrap_or(defaults.force),
        dry_run: o.dry_run.unwrap_or(defaults.dry_run),
        wait: o.wait.unwrap_or(defaults.wait),
        time_budget_secs: o.time_budget_secs,
        http2: o.http2.map(|s| s.to_bool("options.http2")).transpose()?,
        tls_version,
        ocsp_stapling: o
            .ocsp_stapling
            .map(|s| s.to_bool("options.ocsp_stapling"))
            .transpose()?,
        fail_on_error: o.fail_on_error.unwrap_or(defaults.fail_on_error),
        warn_days: o.warn_days.unwrap_or(defaults.warn_days),
        no_sm_certificates: o.no_sm_certificates.unwrap_or(defaults.no_sm_certificates),
        verify_edge: o.verify_edge.unwrap_or(defaults.verify_edge),
        trust,
    })
}

/// The most domains one request may name: a run deploys about 1000 a minute through the batch
/// call, so more than this cannot finish within a platform's 15 minutes.
pub const MAX_DOMAINS: usize = 20_000;

/// Lower-cases, drops a trailing dot, writes internationalized names as A-labels
/// (`bücher.example` is the CDN domain `xn--bcher-kva.example`), removes duplicates (first
/// occurrence kept) and checks that each name is a host name, optionally with a leading `*.`.
pub fn normalize_domains(names: &[String]) -> Result<Vec<String>, RequestError> {
    if names.len() > MAX_DOMAINS {
        return Err(RequestError::new(
            "domains",
            format!(
                "{} domains: at most {MAX_DOMAINS} per request (split the account's domains over several runs)",
                names.len()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let invalid = || {
            RequestError::new(
                format!("domains[{i}]"),
                format!("`{}` is not a domain name", shorten(name)),
            )
        };
        let d = to_a_labels(name.trim().trim_end_matches('.')).ok_or_else(invalid)?;
        if !is_domain_name(&d) {
            return Err(invalid());
        }
        if seen.insert(d.clone()) {
            out.push(d);
        }
    }
    Ok(out)
}

/// A name in lower-case A-labels (`*.` kept); `None` when it cannot be one.
fn to_a_labels(name: &str) -> Option<String> {
    if name.is_ascii() {
        return Some(name.to_ascii_lowercase());
    }
    let (wildcard, host) = match name.strip_prefix("*.") {
        Some(rest) => ("*.", rest),
        None => ("", name),
    };
    let ascii = idna::domain_to_ascii(host).ok()?;
    Some(format!("{wildcard}{ascii}"))
}

/// A user's value quoted in a message, cut so that a huge value cannot make a huge message.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let head: String = s.chars().take(MAX).collect();
    format!("{head}…")
}

fn is_domain_name(d: &str) -> bool {
    let host = d.strip_prefix("*.").unwrap_or(d);
    let labels: Vec<&str> = host.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn normalize_tls_versions(s: &str) -> Result<String, RequestError> {
    const KNOWN: [&str; 4] = ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
    let mut picked = Vec::new();
    for v in s.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let known = KNOWN
            .iter()
            .find(|k| k.eq_ignore_ascii_case(v))
            .ok_or_else(|| {
                RequestError::new(
                    "options.tls_version",
                    format!("`{v}` is not one of TLSv1.0, TLSv1.1, TLSv1.2, TLSv1.3"),
                )
            })?;
        if !picked.contains(known) {
            picked.push(*known);
        }
    }
    if picked.is_empty() {
        return Err(RequestError::new(
            "options.tls_version",
            "name at least one TLS version",
        ));
    }
    picked.sort();
    // The CDN takes one version or a run of consecutive ones (not 1.0 and 1.2 without 1.1).
    let index = |v: &&str| KNOWN.iter().position(|k| k == v).unwrap_or(0);
    if index(&picked[picked.len() - 1]) - index(&picked[0]) + 1 != picked.len() {
        return Err(RequestError::new(
            "options.tls_version",
            format!(
                "`{}` skips a version: the CDN takes consecutive versions only (e.g. TLSv1.2,TLSv1.3)",
                picked.join(",")
            ),
        ));
    }
    Ok(picked.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pem_request() -> Value {
        json!({"domains": ["www.example.com"], "certificate": "C", "private_key": "K"})
    }

    fn strict(v: Value) -> Result<DeployRequest, RequestError> {
        parse(v, Strictness::Strict).map(|(r, _)| r)
    }

    #[test]
    fn normalizes_domains() {
        let mut v = pem_request();
        v["domains"] = json!([
            "WWW.Example.com.",
            "www.example.com",
            "*.Example.com",
            "img.example.com"
        ]);
        let r = strict(v).unwrap();
        assert_eq!(
            r.domains,
            vec!["www.example.com", "*.example.com", "img.example.com"]
        );
        assert_eq!(r.match_mode, MatchMode::Exact);
        assert!(r.options.wait && !r.options.force && !r.options.dry_run);
    }

    #[test]
    fn internationalized_names_are_a_labels_and_the_same_domain() {
        let names: Vec<String> = [
            "bücher.example",
            "xn--bcher-kva.example",
            "*.Bücher.example",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            normalize_domains(&names).unwrap(),
            vec!["xn--bcher-kva.example", "*.xn--bcher-kva.example"]
        );
        let bad: Vec<String> = vec!["a\u{0}b.example".into()];
        assert_eq!(normalize_domains(&bad).unwrap_err().field, "domains[0]");
    }

    #[test]
    fn twenty_thousand_domains_dedupe_in_linear_time_and_more_are_refused() {
        let mut names: Vec<String> = (0..MAX_DOMAINS / 2)
            .map(|i| format!("d{i}.example.com"))
            .collect();
        names.extend(names.clone().iter().map(|n| n.to_uppercase()));
        assert_eq!(names.len(), MAX_DOMAINS);
        assert_eq!(normalize_domains(&names).unwrap().len(), MAX_DOMAINS / 2);
        names.push("one-more.example.com".into());
        let e = normalize_domains(&names).unwrap_err();
        assert_eq!(e.field, "domains");
        assert!(e.message.contains("at most 20000"), "{}", e.message);
        // A huge name is not quoted whole.
        let e = normalize_domains(&["x".repeat(100_000)]).unwrap_err();
        assert!(e.message.len() < 200);
    }

    #[test]
    fn warn_days_defaults_to_three_weeks() {
        assert_eq!(strict(pem_request()).unwrap().options.warn_days, 21);
        let mut v = pem_request();
        v["options"] = json!({"warn_days": 45});
        assert_eq!(strict(v).unwrap().options.warn_days, 45);
        let mut v = pem_request();
        v["options"] = json!({"warn_days": -1});
        assert_eq!(strict(v).unwrap_err().field, "options.warn_days");
    }

    #[test]
    fn unknown_fields_are_named() {
        let mut v = pem_request();
        v["domian"] = json!("x");
        assert_eq!(strict(v).unwrap_err().field, "domian");
        let mut v = pem_request();
        v["options"] = json!({"forse": true});
        let e = strict(v.clone()).unwrap_err();
        assert_eq!(e.field, "options.forse");
        assert!(e.to_string().contains("unknown field"));
        let (r, unknown) = parse(v, Strictness::Lenient).unwrap();
        assert_eq!(unknown, vec!["options.forse"]);
        assert!(!r.options.force);
    }

    #[test]
    fn type_errors_name_the_field() {
        let mut v = pem_request();
        v["options"] = json!({"force": "yes"});
        assert_eq!(strict(v).unwrap_err().field, "options.force");
        let mut v = pem_request();
        v["domains"] = json!(["ok.example.com", "bad name"]);
        assert_eq!(strict(v).unwrap_err().field, "domains[1]");
        let mut v = pem_request();
        v["match"] = json!("fuzzy");
        assert_eq!(strict(v).unwrap_err().field, "match");
    }

    #[test]
    fn trust_is_any_or_absent() {
        let v = pem_request();
        assert_eq!(strict(v).unwrap().options.trust, Trust::Verify);
        let mut v = pem_request();
        v["options"] = json!({"trust": "any"});
        assert_eq!(strict(v).unwrap().options.trust, Trust::Any);
        for bad in [
            json!("none"),
            json!(true),
            json!("-----BEGIN PRIVATE KEY-----\nMIIE"),
        ] {
            let mut v = pem_request();
            v["options"] = json!({ "trust": bad });
            let e = strict(v).unwrap_err();
            assert_eq!(e.field, "options.trust");
            assert!(!e.message.contains("MIIE"), "{}", e.message);
        }
    }

    #[test]
    fn a_key_in_the_wrong_place_is_not_quoted_back() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n";
        let v = json!({"domains": ["a.example.com"], "certificate_source": key});
        let e = strict(v).unwrap_err();
        assert_eq!(e.field, "certificate_source");
        assert!(!e.message.contains("PRIVATE KEY"), "{}", e.message);
        assert!(!e.message.contains("MIIE"), "{}", e.message);
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let v = json!({"domains": ["a.example.com"], "certificate_source":
                       {"type": "s3", "bucket": "b", "keys": key}});
        let e = strict(v).unwrap_err();
        assert!(e.field.starts_with("certificate_source"), "{}", e.field);
        assert!(!e.message.contains("MIIE"), "{}", e.message);
    }

    #[test]
    fn certificate_is_one_of_two_forms() {
        let mut v = pem_request();
        v["scm_certificate_id"] = json!("scs1");
        assert_eq!(strict(v).unwrap_err().field, "scm_certificate_id");
        // The id becomes a URL path segment of ShowCertificate.
        for bad in ["..", "scs1/../x", "scs 1", "scs1?x"] {
            let v = json!({"domains": ["a.example.com"], "scm_certificate_id": bad});
            assert_eq!(strict(v).unwrap_err().field, "scm_certificate_id", "{bad}");
            let v = json!({"domains": ["a.example.com"],
                           "certificate_source": {"type": "scm", "certificate_id": bad}});
            assert_eq!(
                strict(v).unwrap_err().field,
                "certificate_source.certificate_id",
                "{bad}"
            );
        }
        let v = json!({"domains": ["a.example.com"], "certificate": "C"});
        assert_eq!(strict(v).unwrap_err().field, "private_key");
        let v = json!({"domains": ["a.example.com"]});
        assert_eq!(strict(v).unwrap_err().field, "certificate");
        let v = json!({"domains": ["a.example.com"], "scm_certificate_id": "scs1"});
        assert_eq!(
            strict(v).unwrap().certificate,
            CertificateInput::Scm { id: "scs1".into() }
        );
    }

    #[test]
    fn exact_needs_domains_certsan_does_not() {
        let v = json!({"domains": [], "certificate": "C", "private_key": "K"});
        assert_eq!(strict(v).unwrap_err().field, "domains");
        let v = json!({"match": "certsan", "certificate": "C", "private_key": "K"});
        assert_eq!(strict(v).unwrap().match_mode, MatchMode::Certsan);
    }

    #[test]
    fn certificate_name_length() {
        let mut v = pem_request();
        v["certificate_name"] = json!("ab");
        assert_eq!(strict(v).unwrap_err().field, "certificate_name");
        let mut v = pem_request();
        v["certificate_name"] = json!("a".repeat(65));
        assert_eq!(strict(v).unwrap_err().field, "certificate_name");
    }

    #[test]
    fn options_switches_and_tls() {
        let mut v = pem_request();
        v["options"] =
            json!({"http2": "on", "ocsp_stapling": false, "tls_version": "tlsv1.3, TLSv1.2"});
        let r = strict(v).unwrap();
        assert_eq!(r.options.http2, Some(true));
        assert_eq!(r.options.ocsp_stapling, Some(false));
        assert_eq!(r.options.tls_version.as_deref(), Some("TLSv1.2,TLSv1.3"));
        let mut v = pem_request();
        v["options"] = json!({"tls_version": "SSLv3"});
        assert_eq!(strict(v).unwrap_err().field, "options.tls_version");
        for gap in [
            "TLSv1.0,TLSv1.2",
            "TLSv1.1,TLSv1.3",
            "TLSv1.0,TLSv1.1,TLSv1.3",
        ] {
            let mut v = pem_request();
            v["options"] = json!({"tls_version": gap});
            let e = strict(v).unwrap_err();
            assert_eq!(e.field, "options.tls_version");
            assert!(e.message.contains("consecutive"), "{}", e.message);
        }
        let mut v = pem_request();
        v["options"] =
            json!({"tls_version": "TLSv1.1,TLSv1.0,TLSv1.2", "no_sm_certificates": true});
        let r = strict(v).unwrap();
        assert_eq!(
            r.options.tls_version.as_deref(),
            Some("TLSv1.0,TLSv1.1,TLSv1.2")
        );
        assert!(r.options.no_sm_certificates);
        assert!(!strict(pem_request()).unwrap().options.no_sm_certificates);
        let mut v = pem_request();
        v["options"] = json!({"time_budget_secs": 0});
        assert_eq!(strict(v).unwrap_err().field, "options.time_budget_secs");
    }

    #[test]
    fn joined_domains_string() {
        let v = json!({"domains": "a.example.com, b.example.com", "certificate": "C", "private_key": "K"});
        assert_eq!(
            strict(v).unwrap().domains,
            vec!["a.example.com", "b.example.com"]
        );
    }

    #[test]
    fn defaults_fill_what_the_event_leaves_out() {
        let defaults = json!({
            "domains": ["www.example.com"], "scm_certificate_id": "scs-old",
            "options": {"dry_run": true, "wait": false}
        });
        let event = json!({"certificate": "C", "private_key": "K", "options": {"wait": true, "force": null}});
        let merged = merge_defaults(&defaults, &event);
        assert_eq!(
            merged,
            json!({"domains": ["www.example.com"], "certificate": "C", "private_key": "K",
                   "options": {"dry_run": true, "wait": true}})
        );
        let merged = merge_defaults(&defaults, &json!({"domains": ["img.example.com"]}));
        assert_eq!(merged["domains"], json!(["img.example.com"]));
        assert_eq!(merged["scm_certificate_id"], "scs-old");
    }

    #[test]
    fn certificate_source_replaces_the_inline_forms() {
        let v = json!({"domains": ["a.example.com"],
                       "certificate_source": {"type": "secretsmanager", "secret_id": "prod/x"}});
        match strict(v).unwrap().certificate {
            CertificateInput::Source(s) => assert_eq!(s.kind(), "secretsmanager"),
            other => panic!("{other:?}"),
        }
        let v = json!({"domains": ["a.example.com"], "private_key": "K",
                       "certificate_source": {"type": "scm", "certificate_id": "scs1"}});
        let e = strict(v).unwrap_err();
        assert_eq!(e.field, "certificate_source");
        assert!(e.message.contains("`private_key`"), "{e}");
        let v = json!({"domains": ["a.example.com"],
                       "certificate_source": {"type": "s3", "bucket": "b"}});
        assert_eq!(strict(v).unwrap_err().field, "certificate_source.keys");
        let v = json!({"domains": ["a.example.com"],
                       "certificate_source": {"type": "ftp", "host": "x"}});
        let e = strict(v).unwrap_err();
        assert!(e.field.starts_with("certificate_source"), "{e}");
        assert!(e.message.contains("ftp"), "{e}");
    }

    #[test]
    fn an_event_certificate_replaces_a_default_source_and_back() {
        let defaults = json!({"domains": ["www.example.com"],
                              "certificate_source": {"type": "scm", "certificate_id": "scs1"}});
        let merged = merge_defaults(&defaults, &json!({"certificate": "C", "private_key": "K"}));
        assert!(merged.get("certificate_source").is_none());
        let defaults = json!({"domains": ["www.example.com"], "scm_certificate_id": "scs-old"});
        let merged = merge_defaults(
            &defaults,
            &json!({"certificate_source": {"type": "scm", "certificate_id": "scs2"}}),
        );
        assert!(merged.get("scm_certificate_id").is_none());
        assert!(strict(merged).is_ok());
    }
}
