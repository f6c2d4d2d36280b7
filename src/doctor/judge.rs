//! What a read-only look at an account says (SPEC section 12), pure: a domain's entry from its
//! listing and full read, a check from a refused call, the clock's offset, and the forecast of a
//! deployment from counts and quotas.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cert;
use crate::deploy::settings::{self, Overrides};
use crate::huawei::model::{Configs, DomainStatus, ListedDomain};
use crate::huawei::quota::Quota;

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

/// What a deployment of the domains judged would call, and how long it would take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    pub calls: Calls,
    pub seconds: u64,
    pub budget_seconds: u64,
    pub fits_budget: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// Calls by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    pub list: u64,
    pub https_info: u64,
    pub configs_read: u64,
    pub write: u64,
    pub batch: u64,
}

/// The quotas a forecast paces calls by.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub list: Quota,
    pub https_info: Quota,
    pub configs_read: Quota,
    pub write: Quota,
    pub batch: Quota,
}

/// How long the CDN takes to bring a written domain live: not documented; what the CDN's
/// console reports as usual (minutes at most), counted once since domains go live side by side.
pub const SETTLE_SECONDS: u64 = 60;
/// Domains per batch call (the documented maximum).
const BATCH_SIZE: u64 = 50;

/// The forecast for `entries`, on an account of `listed` domains, within `budget`.
pub fn forecast(
    entries: &[DomainEntry],
    listed: u64,
    quotas: &Quotas,
    budget: Duration,
) -> Forecast {
    let writing: Vec<&DomainEntry> = entries
        .iter()
        .filter(|e| e.write.is_some_and(|w| w != Write::None))
        .collect();
    let batched = writing
        .iter()
        .filter(|e| e.write == Some(Write::Batch))
        .count() as u64;
    let alone = writing.len() as u64 - batched;
    let calls = Calls {
        list: listed.div_ceil(10_000).max(1),
        https_info: listed.div_ceil(1_000).max(1),
        configs_read: writing.len() as u64,
        write: alone,
        batch: batched.div_ceil(BATCH_SIZE),
    };
    // Kinds of call go side by side: the slowest kind sets the pace.
    let paced = [
        (calls.list, quotas.list),
        (calls.https_info, quotas.https_info),
        (calls.configs_read, quotas.configs_read),
        (calls.write, quotas.write),
        (calls.batch, quotas.batch),
    ]
    .iter()
    .map(|(n, q)| windows_for(*n, q))
    .max()
    .unwrap_or(0);
    let seconds = paced
        + if writing.is_empty() {
            0
        } else {
            SETTLE_SECONDS
        };
    let budget_seconds = budget.as_secs();
    let fits_budget = seconds <= budget_seconds;
    let advice = (!fits_budget).then(|| {
        format!(
            "about {seconds} s is more than the {budget_seconds} s budget: domains not live by then are pending and \
             a follow-up run takes them (pending_domains); use the Step Functions workflow, or fewer domains a run"
        )
    });
    Forecast {
        calls,
        seconds,
        budget_seconds,
        fits_budget,
        advice,
    }
}

/// Seconds that `n` calls take under `quota`: up to its count go at once, then one window per
/// count more.
fn windows_for(n: u64, quota: &Quota) -> u64 {
    let count = u64::from(quota.count.max(1));
    if n <= count {
        return 0;
    }
    ((n - 1) / count) * quota.window.as_secs().max(1)
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
    fn the_forecast_is_paced_by_the_slowest_call() {
        let q = |count, secs| Quota {
            count,
            window: Duration::from_secs(secs),
        };
        let quotas = Quotas {
            list: q(300, 60),
            https_info: q(15, 1),
            configs_read: q(300, 60),
            write: q(200, 60),
            batch: q(20, 60),
        };
        let entry = |w| DomainEntry {
            write: Some(w),
            ..domain(&seen(
                "x.example.com",
                None,
                None,
                None,
                &Overrides::default(),
            ))
        };
        let mut entries: Vec<DomainEntry> = (0..600).map(|_| entry(Write::Batch)).collect();
        entries.extend((0..300).map(|_| entry(Write::Alone)));
        let f = forecast(&entries, 1000, &quotas, Duration::from_secs(900));
        assert_eq!(
            f.calls,
            Calls {
                list: 1,
                https_info: 1,
                configs_read: 900,
                write: 300,
                batch: 12
            }
        );
        // 900 full reads at 300 a minute: two more windows, then the settle.
        assert_eq!(f.seconds, 120 + SETTLE_SECONDS);
        assert!(f.fits_budget && f.advice.is_none());
        let f = forecast(&entries, 1000, &quotas, Duration::from_secs(25));
        assert!(!f.fits_budget && f.advice.unwrap().contains("pending_domains"));
    }
}
