//! What a read-only look at an account says (SPEC section 12), pure: a domain's entry from its
//! listing and full read (and what the forecast replays of it), a check from a refused call, and
//! the clock's offset.

use serde::{Deserialize, Serialize};

use super::forecast::{Batched, ToWrite};
use crate::cert;
use crate::deploy::settings::{self, Overrides};
use crate::huawei::model::{Configs, DomainStatus, ListedDomain};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One check of a doctor run: every `warn` and `fail` carries the advice that mends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Level,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, message: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Level::Ok,
            message: message.into(),
            advice: None,
        }
    }

    pub fn warn(
        name: impl Into<String>,
        message: impl Into<String>,
        advice: impl Into<String>,
    ) -> Self {
        Check {
            status: Level::Warn,
            advice: Some(advice.into()),
            ..Check::ok(name, message)
        }
    }

    pub fn fail(
        name: impl Into<String>,
        message: impl Into<String>,
        advice: impl Into<String>,
    ) -> Self {
        Check {
            status: Level::Fail,
            advice: Some(advice.into()),
            ..Check::ok(name, message)
        }
    }
}

/// The certificate a domain serves, as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub not_after: String,
    pub days_left: i64,
}

/// How a deployment would write a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Write {
    Batch,
    Alone,
    None,
}

/// What would make a domain's deployment fail or surprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    Missing,
    Offline,
    ConfigureFailed,
    NotCovered,
    SmCertificateInUse,
    CnameNotPointing,
    Expiring,
    HttpsOff,
}

/// One domain's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEntry {
    pub domain: String,
    pub exists: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_area: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Served>,
    /// Whether the request's certificate covers the domain (`None` without a certificate).
    pub covered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sm_certificate: Option<bool>,
    /// Whether its DNS CNAME points at the CDN's (`None`: DNS could not tell).
    pub cname_ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write: Option<Write>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    pub problems: Vec<Problem>,
}

/// What is known of a domain when it is judged.
pub struct Seen<'a> {
    pub name: &'a str,
    /// Its ListDomains entry; `None`: the account has no such domain.
    pub listed: Option<&'a ListedDomain>,
    /// Its full read (`None`: not read, or refused).
    pub configs: Option<&'a Configs>,
    /// The names of the request's certificate, when it has one.
    pub names: Option<&'a [String]>,
    /// Its leaf's SHA-256 fingerprint (a PEM certificate).
    pub fingerprint: Option<&'a str>,
    pub now: i64,
    pub warn_days: i64,
    /// The run would write this domain in a batch if it may (20 domains to write or more).
    pub batching: bool,
    pub overrides: &'a Overrides,
}

/// A domain's entry from what was seen of it.
pub fn domain(seen: &Seen<'_>) -> DomainEntry {
    let covered = seen.names.map(|n| cert::covered_by(n, seen.name));
    let mut entry = DomainEntry {
        domain: seen.name.to_string(),
        exists: seen.listed.is_some(),
        status: None,
        service_area: None,
        https: None,
        certificate: None,
        covered,
        sm_certificate: None,
        cname_ok: None,
        write: None,
        why: None,
        problems: Vec::new(),
    };
    if covered == Some(false) {
        entry.problems.push(Problem::NotCovered);
    }
    let Some(listed) = seen.listed else {
        entry.problems.push(Problem::Missing);
        entry.write = Some(Write::None);
        entry.why = Some("the account has no such CDN domain".into());
        return entry;
    };
    entry.status = Some(listed.domain_status.as_str().to_string());
    match listed.domain_status {
        DomainStatus::Offline => entry.problems.push(Problem::Offline),
        DomainStatus::ConfigureFailed => entry.problems.push(Problem::ConfigureFailed),
        _ => {}
    }
    if let Some(c) = seen.configs {
        read_in_full(&mut entry, c, seen);
    }
    entry.problems.sort();
    entry.problems.dedup();
    entry
}

/// What a domain's full read adds to its entry: HTTPS, the served certificate, an SM pair,
/// and how a deployment would write it.
fn read_in_full(entry: &mut DomainEntry, c: &Configs, seen: &Seen<'_>) {
    let https = c.https.as_ref();
    entry.service_area = c.service_area.clone();
    let on = https
        .and_then(|h| h.https_status.as_deref())
        .is_some_and(|s| s == "on");
    entry.https = Some(on);
    if !on {
        entry.problems.push(Problem::HttpsOff);
    }
    let sm = settings::sm_in_use(https);
    entry.sm_certificate = Some(sm);
    if sm {
        entry.problems.push(Problem::SmCertificateInUse);
    }
    entry.certificate = https
        .and_then(|h| h.certificate_value.as_deref())
        .and_then(|pem| served(pem, seen.now));
    if entry
        .certificate
        .as_ref()
        .is_some_and(|s| s.days_left <= seen.warn_days)
    {
        entry.problems.push(Problem::Expiring);
    }
    let (write, why) = how_written(entry, c, seen);
    entry.write = Some(write);
    entry.why = Some(why);
}

/// How a deployment would write the domain, and why.
fn how_written(entry: &DomainEntry, c: &Configs, seen: &Seen<'_>) -> (Write, String) {
    let blocked = entry.problems.iter().find(|p| {
        matches!(
            p,
            Problem::Offline | Problem::NotCovered | Problem::SmCertificateInUse
        )
    });
    if let Some(p) = blocked {
        let why = match p {
            Problem::Offline => "offline: a deployment skips it",
            Problem::NotCovered => "the certificate does not cover it",
            _ => "it serves an SM certificate that an international one would remove",
        };
        return (Write::None, why.into());
    }
    let served = c
        .https
        .as_ref()
        .and_then(|h| h.certificate_value.as_deref());
    if let (Some(pem), Some(new)) = (served, seen.fingerprint) {
        if cert::leaf_fingerprint(pem).as_deref() == Some(new) {
            return (
                Write::None,
                "it already serves this certificate (unchanged)".into(),
            );
        }
    }
    match settings::batch_key(c, seen.overrides) {
        Ok(_) if seen.batching => (
            Write::Batch,
            "every setting the batch call cannot carry is at its default".into(),
        ),
        Ok(_) => (
            Write::Alone,
            "fewer than 20 domains to write: each is written with its own call".into(),
        ),
        Err(why) => (Write::Alone, format!("{why}: written with its own call")),
    }
}

/// What the forecast replays of a domain the deployment would write: its proof classes and,
/// batched, its group (`None`: nothing to write, or it was not read in full).
pub fn to_write(seen: &Seen<'_>, entry: &DomainEntry) -> Option<ToWrite> {
    let c = seen.configs?;
    let batch = match entry.write? {
        Write::None => return None,
        Write::Alone => None,
        Write::Batch => settings::batch_key(c, seen.overrides)
            .ok()
            .map(|group| Batched {
                group,
                class: settings::class_of(c),
            }),
    };
    Some(ToWrite {
        alone_class: settings::alone_class_of(c),
        batch,
    })
}

/// A batch group of fewer than `min` domains is handed back and written domain by domain, as
/// the engine's batcher does: those entries say `alone`, and why.
pub fn small_groups(entries: &mut [DomainEntry], writes: &mut [Option<ToWrite>], min: usize) {
    let mut sizes: std::collections::HashMap<settings::BatchKey, usize> = Default::default();
    for b in writes.iter().flatten().filter_map(|w| w.batch.as_ref()) {
        *sizes.entry(b.group.clone()).or_default() += 1;
    }
    for (entry, write) in entries.iter_mut().zip(writes.iter_mut()) {
        let Some(w) = write else { continue };
        let Some(n) = w
            .batch
            .as_ref()
            .map(|b| sizes[&b.group])
            .filter(|n| *n < min)
        else {
            continue;
        };
        w.batch = None;
        entry.write = Some(Write::Alone);
        entry.why = Some(format!(
            "only {n} of the domains to write share its batch settings (a batch takes {min}): written with its own call"
        ));
    }
}

/// The served leaf's names, issuer and expiry, as of `now`.
fn served(pem: &str, now: i64) -> Option<Served> {
    let der = cert::parse_chain(pem).ok()?.into_iter().next()?;
    let info = cert::inspect(&der).ok()?;
    let issuer = x509_parser::parse_x509_certificate(&der)
        .ok()
        .and_then(|(_, c)| {
            c.issuer()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_string)
        });
    Some(Served {
        names: info.subject_names,
        issuer,
        not_after: info.not_after,
        days_left: (info.not_after_unix - now).div_euclid(86_400),
    })
}

/// Whether a domain's DNS points at the CDN: some hop of its CNAME chain is the `cname` the
/// CDN assigned. `None` when DNS could not tell or the CDN named none.
pub fn cname_ok(chain: Result<&[String], &str>, assigned: Option<&str>) -> Option<bool> {
    let assigned = assigned?.trim_end_matches('.');
    let chain = chain.ok()?;
    Some(chain.iter().any(|c| c.eq_ignore_ascii_case(assigned)))
}

/// Records what DNS said of a domain in its entry.
pub fn with_cname(entry: &mut DomainEntry, ok: Option<bool>) {
    entry.cname_ok = ok;
    if ok == Some(false) {
        entry.problems.push(Problem::CnameNotPointing);
        entry.problems.sort();
    }
}

/// The summary check of the domains judged: `fail` when one would make a deployment fail or
/// be skipped, `warn` for what would surprise (expiring, HTTPS off), with counts by problem.
pub fn domains_check(entries: &[DomainEntry]) -> Check {
    const NAME: &str = "domains";
    let mut counts: Vec<(Problem, usize)> = Vec::new();
    for p in entries.iter().flat_map(|e| e.problems.iter()) {
        match counts.iter_mut().find(|(q, _)| q == p) {
            Some((_, n)) => *n += 1,
            None => counts.push((*p, 1)),
        }
    }
    counts.sort();
    if counts.is_empty() {
        return Check::ok(
            NAME,
            format!("{} domains judged, none with a problem", entries.len()),
        );
    }
    let said: Vec<String> = counts
        .iter()
        .map(|(p, n)| format!("{n} {}", p.word()))
        .collect();
    let message = format!("{} domains judged: {}", entries.len(), said.join(", "));
    let failing = counts.iter().any(|(p, _)| p.fails());
    let advice = "each domain's problems say what a deployment would meet; mend them or leave those domains out";
    match failing {
        true => Check::fail(NAME, message, advice),
        false => Check::warn(NAME, message, advice),
    }
}

impl Problem {
    /// The problem's code, as the JSON spells it.
    pub fn word(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Offline => "offline",
            Problem::ConfigureFailed => "configure_failed",
            Problem::NotCovered => "not_covered",
            Problem::SmCertificateInUse => "sm_certificate_in_use",
            Problem::CnameNotPointing => "cname_not_pointing",
            Problem::Expiring => "expiring",
            Problem::HttpsOff => "https_off",
        }
    }

    /// Whether a deployment would end the domain failed or skipped.
    fn fails(self) -> bool {
        !matches!(
            self,
            Problem::Expiring | Problem::HttpsOff | Problem::CnameNotPointing
        )
    }
}

/// The clock check: the local clock against the CDN's `Date` header.
pub fn clock(local: i64, cdn: Option<i64>) -> Check {
    const NAME: &str = "clock";
    let Some(cdn) = cdn else {
        return Check::warn(
            NAME,
            "the CDN's answer carried no Date header to compare the clock with",
            "make sure the machine's clock is synchronized (NTP)",
        );
    };
    let off = local - cdn;
    let side = if off > 0 { "ahead of" } else { "behind" };
    let advice = "sync the clock (NTP): the gateway refuses requests signed more than 15 minutes off (APIGW.0301)";
    match off.unsigned_abs() {
        0..=60 => Check::ok(
            NAME,
            format!(
                "the local clock is within {} s of the CDN's",
                off.unsigned_abs().max(1)
            ),
        ),
        61..=299 => Check::warn(
            NAME,
            format!("the local clock is {} s {side} the CDN's", off.abs()),
            advice,
        ),
        _ => Check::fail(
            NAME,
            format!("the local clock is {} s {side} the CDN's", off.abs()),
            advice,
        ),
    }
}

/// A refused read, explained: the API and the IAM action to grant, or what an authentication
/// failure means.
pub fn refused(api: &str, action: &str, http_status: u16, code: &str, message: &str) -> Check {
    let name = format!("permission:{api}");
    let said = format!("{http_status} {code}: {message}");
    if code == "APIGW.0301" || code == "APIGW.0307" || http_status == 401 {
        let lower = message.to_ascii_lowercase();
        // The gateway's words for a locked key: "AK access failed to reach the limit,forbidden".
        let advice = if lower.contains("locked") || lower.contains("reach the limit") {
            "the access key is locked for five minutes after repeated signature failures: wait, then check the secret key"
        } else if code == "APIGW.0307" || lower.contains("token") && lower.contains("expire") {
            "the security token has expired: temporary keys must be renewed (or use the FunctionGraph agency's keys)"
        } else if lower.contains("ak not found")
            || lower.contains("access key") && lower.contains("not")
        {
            "the access key does not exist in this account: check HUAWEICLOUD_SDK_AK (or the account's secret)"
        } else {
            "the signature was refused: check the secret key, and the clock (more than 15 minutes off is refused)"
        };
        return Check::fail("credentials", said, advice);
    }
    Check::fail(
        name,
        said,
        format!(
            "grant the IAM action `{action}` to the user or agency whose keys the function uses"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listed(name: &str, status: &str) -> ListedDomain {
        serde_json::from_value(json!({"domain_name": name, "domain_status": status})).unwrap()
    }

    fn configs(v: serde_json::Value) -> Configs {
        serde_json::from_value(v).unwrap()
    }

    fn seen<'a>(
        name: &'a str,
        l: Option<&'a ListedDomain>,
        c: Option<&'a Configs>,
        names: Option<&'a [String]>,
        overrides: &'a Overrides,
    ) -> Seen<'a> {
        Seen {
            name,
            listed: l,
            configs: c,
            names,
            fingerprint: None,
            now: 1_800_000_000,
            warn_days: 21,
            batching: true,
            overrides,
        }
    }

    #[test]
    fn each_problem_is_named_in_its_entry() {
        let o = Overrides::default();
        let names = vec!["*.example.com".to_string()];
        let e = domain(&seen("gone.example.com", None, None, Some(&names), &o));
        assert_eq!((e.exists, e.write), (false, Some(Write::None)));
        assert_eq!(e.problems, [Problem::Missing]);

        let off = listed("off.example.com", "offline");
        let c = configs(json!({"https": {"https_status": "off"}}));
        let e = domain(&seen(
            "off.example.com",
            Some(&off),
            Some(&c),
            Some(&names),
            &o,
        ));
        assert_eq!(e.problems, [Problem::Offline, Problem::HttpsOff]);
        assert_eq!(e.write, Some(Write::None));

        let failed = listed("a.b.example.com", "configure_failed");
        let e = domain(&seen(
            "a.b.example.com",
            Some(&failed),
            None,
            Some(&names),
            &o,
        ));
        assert_eq!(e.problems, [Problem::ConfigureFailed, Problem::NotCovered]);

        let sm = listed("sm.example.com", "online");
        let c = configs(
            json!({"https": {"https_status": "on", "certificate_type": "server_sm",
                                         "http2_status": "off"}}),
        );
        let e = domain(&seen(
            "sm.example.com",
            Some(&sm),
            Some(&c),
            Some(&names),
            &o,
        ));
        assert_eq!(e.problems, [Problem::SmCertificateInUse]);
        assert_eq!((e.sm_certificate, e.write), (Some(true), Some(Write::None)));
    }

    #[test]
    fn the_write_says_which_call_and_why() {
        let o = Overrides::default();
        let l = listed("www.example.com", "online");
        let plain = configs(json!({"https": {"https_status": "on", "http2_status": "on"}}));
        let e = domain(&seen("www.example.com", Some(&l), Some(&plain), None, &o));
        assert_eq!(e.write, Some(Write::Batch));
        let hsts = configs(
            json!({"https": {"https_status": "on", "http2_status": "on"},
                                  "hsts": {"status": "on", "max_age": 3600}}),
        );
        let e = domain(&seen("www.example.com", Some(&l), Some(&hsts), None, &o));
        assert_eq!(e.write, Some(Write::Alone));
        assert!(e.why.as_deref().unwrap().contains("hsts"), "{:?}", e.why);
    }

    #[test]
    fn the_cname_decides_only_when_dns_tells() {
        let chain = vec![
            "alias.example.net".to_string(),
            "www.example.com.c.cdnhwc1.com".to_string(),
        ];
        assert_eq!(
            cname_ok(Ok(&chain), Some("www.example.com.c.cdnhwc1.com.")),
            Some(true)
        );
        assert_eq!(
            cname_ok(Ok(&chain[..1]), Some("www.example.com.c.cdnhwc1.com")),
            Some(false)
        );
        assert_eq!(
            cname_ok(Ok(&[]), Some("x.cdnhwc1.com")),
            Some(false),
            "no CNAME at all"
        );
        assert_eq!(cname_ok(Err("timed out"), Some("x.cdnhwc1.com")), None);
        assert_eq!(cname_ok(Ok(&chain), None), None);
    }

    #[test]
    fn the_clock_is_judged_against_the_cdns() {
        assert_eq!(clock(1000, Some(1010)).status, Level::Ok);
        assert_eq!(clock(1000, Some(1200)).status, Level::Warn);
        let c = clock(1000, Some(1000 + 1204));
        assert_eq!(c.status, Level::Fail);
        assert_eq!(c.message, "the local clock is 1204 s behind the CDN's");
        assert!(c.advice.unwrap().contains("15 minutes"));
        assert_eq!(clock(1000, None).status, Level::Warn);
    }

    #[test]
    fn a_refusal_names_the_action_or_the_key_problem() {
        let c = refused(
            "ShowDomainFullConfig",
            "cdn:configuration:queryDomainConfig",
            403,
            "CDN.0001",
            "no permission",
        );
        assert_eq!(c.name, "permission:ShowDomainFullConfig");
        assert!(c
            .advice
            .unwrap()
            .contains("cdn:configuration:queryDomainConfig"));
        let locked = refused("ListDomains", "x", 401, "APIGW.0301", "Incorrect IAM authentication information: access key locked after repeated signature failures");
        assert_eq!(locked.name, "credentials");
        assert!(locked.advice.unwrap().contains("five minutes"));
        let limit = refused("ListDomains", "x", 401, "APIGW.0301", "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden");
        assert!(limit.advice.unwrap().contains("locked"));
        let token = refused(
            "ListDomains",
            "x",
            401,
            "APIGW.0307",
            "The token must be updated.",
        );
        assert!(token.advice.unwrap().contains("security token"));
    }

    #[test]
    fn a_batch_group_too_small_is_written_alone() {
        let o = Overrides::default();
        let l = listed("www.example.com", "online");
        let plain = configs(json!({"https": {"https_status": "on", "http2_status": "on"}}));
        let follow = configs(
            json!({"https": {"https_status": "on", "http2_status": "on"},
                                    "origin_protocol": "follow"}),
        );
        let (mut entries, mut writes): (Vec<_>, Vec<_>) = (0..8)
            .map(|i| {
                let c = if i < 6 { &plain } else { &follow };
                let s = seen("www.example.com", Some(&l), Some(c), None, &o);
                let e = domain(&s);
                let w = to_write(&s, &e);
                (e, w)
            })
            .unzip();
        assert!(entries.iter().all(|e| e.write == Some(Write::Batch)));
        small_groups(&mut entries, &mut writes, 5);
        assert!(entries[..6].iter().all(|e| e.write == Some(Write::Batch)));
        for (e, w) in entries[6..].iter().zip(&writes[6..]) {
            assert_eq!(e.write, Some(Write::Alone));
            assert!(e.why.as_deref().unwrap().contains("only 2"), "{:?}", e.why);
            assert!(w.as_ref().unwrap().batch.is_none());
        }
    }
}
