//! A Certificate Manager (SCM) certificate as its ShowCertificate answer describes it: its names,
//! dates and status, and the checks a plan makes of it before any CDN call, as of a PEM leaf
//! (pure). The call itself is [`crate::stores::huawei::StoreClient::scm_certificate`].
//!
//! The fields follow the official SDKs' `ShowCertificateResponse` (huaweicloud-sdk-python-v3
//! `huaweicloudsdkscm/v3/model/show_certificate_response.py`, huaweicloud-sdk-go-v3
//! `services/scm/v3/model/model_show_certificate_response.go`): `domain` is the certificate's
//! bound domain, `sans` its additional domains as one string (the SCM API separates several with
//! `;`), `not_after` its expiry (empty while not issued), `status` one of `PAID`, `ISSUED`,
//! `CHECKING`, `CANCELCHECKING`, `UNPASSED`, `EXPIRED`, `REVOKING`, `REVOKED`, `UPLOAD`,
//! `SUPPLEMENTCHECKING`, `CANCELSUPPLEMENTING`, and `domain_count` how many domains it may bind.

use serde::{Deserialize, Serialize};

use crate::cert::rfc3339;

/// The most names read from one SCM certificate (as for a PEM leaf).
pub const MAX_NAMES: usize = 1000;

/// The fields of a ShowCertificate answer this function reads; the others are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ShowCertificate {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub sans: Option<String>,
    #[serde(default)]
    pub domain_count: Option<i64>,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub not_after: Option<String>,
}

/// What a run knows of an SCM certificate; the result's `certificate` block shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScmFacts {
    /// `domain` then each of `sans`, lower-cased, without duplicates.
    pub subject_names: Vec<String>,
    /// RFC 3339, UTC, when SCM gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// RFC 3339, UTC, when SCM gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// SCM's `status` (`ISSUED`, `UPLOAD`, ...).
    #[serde(rename = "scm_status", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip)]
    pub not_after_unix: Option<i64>,
    /// SCM's `domain_count`, for the log.
    #[serde(skip)]
    pub domain_count: Option<i64>,
}

impl ShowCertificate {
    /// The facts a plan uses.
    pub fn facts(&self) -> ScmFacts {
        let not_after_unix = self.not_after.as_deref().and_then(parse_time);
        let not_before_unix = self.not_before.as_deref().and_then(parse_time);
        ScmFacts {
            subject_names: names(self.domain.as_deref(), self.sans.as_deref()),
            not_before: not_before_unix.map(rfc3339),
            not_after: not_after_unix.map(rfc3339),
            status: self
                .status
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_uppercase),
            not_after_unix,
            domain_count: self.domain_count,
        }
    }
}

/// The certificate's names: `domain`, then each name of `sans` (split on `;`, the SCM API's
/// separator, and on `,` or white space, which no domain name holds), lower-cased, a trailing
/// dot dropped, duplicates removed, at most [`MAX_NAMES`]. `sans` holds the additional domains,
/// so `domain` is a name of the certificate as well (and the only one of a single-domain one).
pub fn names(domain: Option<&str>, sans: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let all = domain
        .into_iter()
        .chain(sans)
        .flat_map(|s| s.split([';', ',', ' ', '\t', '\n', '\r']));
    for n in all {
        let n = n.trim().trim_end_matches('.').to_ascii_lowercase();
        if !n.is_empty() && !out.contains(&n) {
            out.push(n);
            if out.len() == MAX_NAMES {
                break;
            }
        }
    }
    out
}

/// An SCM time as unix seconds: `2027-02-25 23:59:59` (with optional fractional seconds, as
/// Certificate Manager's answers write times; read as UTC), RFC 3339 (`2027-02-25T23:59:59Z`,
/// or with an offset), or a number of milliseconds (or seconds) since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        // Milliseconds from 1973 on; fewer digits are seconds.
        return Some(if n >= 100_000_000_000 { n / 1000 } else { n });
    }
    let b = s.as_bytes();
    if b.len() < 19 || !matches!(b[10], b' ' | b'T' | b't') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest.trim() {
        "" | "Z" | "z" => 0,
        o if o.len() == 6
            && (o.starts_with('+') || o.starts_with('-'))
            && o.as_bytes()[3] == b':' =>
        {
            let h: i64 = o.get(1..3)?.parse().ok()?;
            let m: i64 = o.get(4..6)?.parse().ok()?;
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, day as u8).ok()?;
    let t = time::Time::from_hms(hour as u8, minute as u8, second as u8).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp()
            - offset,
    )
}

/// Statuses of a certificate that has nothing to deploy: not issued yet, refused, or revoked.
const NOT_DEPLOYABLE: &[&str] = &[
    "PAID",
    "CHECKING",
    "CANCELCHECKING",
    "UNPASSED",
    "REVOKED",
    "CHECKING_DOMAIN",
    "CHECKING_ORG",
];

/// Why an SCM certificate is refused before any CDN call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScmRefusal {
    /// `not_after` is past, or SCM says `EXPIRED`.
    #[error("certificate expired on {0}")]
    Expired(String),
    /// Its status says there is no issued certificate to deploy.
    #[error("its status is `{0}`: there is no issued certificate to deploy")]
    NotIssued(String),
    /// Neither `domain` nor `sans` names a domain.
    #[error("Certificate Manager names no domain for it (`domain` and `sans` are empty)")]
    NoNames,
}

impl ScmRefusal {
    /// The result's error code, as for a PEM certificate.
    pub fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            Self::Expired(_) => ErrorCode::CertificateExpired,
            Self::NotIssued(_) | Self::NoNames => ErrorCode::InvalidCertificate,
        }
    }
}

/// Checks an SCM certificate at `now` (unix seconds), as [`crate::cert::validate`] checks a leaf:
/// not expired, issued, and naming at least one domain.
pub fn check(facts: &ScmFacts, now: i64) -> Result<(), ScmRefusal> {
    if let Some(not_after) = facts.not_after_unix {
        if now > not_after {
            return Err(ScmRefusal::Expired(rfc3339(not_after)));
        }
    }
    match facts.status.as_deref() {
        Some("EXPIRED") => {
            let when = facts
                .not_after
                .clone()
                .unwrap_or_else(|| "(date not given)".into());
            return Err(ScmRefusal::Expired(when));
        }
        Some(s) if NOT_DEPLOYABLE.contains(&s) => return Err(ScmRefusal::NotIssued(s.into())),
        _ => {}
    }
    if facts.subject_names.is_empty() {
        return Err(ScmRefusal::NoNames);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_domain_then_the_sans() {
        assert_eq!(
            names(
                Some("Example.com"),
                Some("*.example.com;www.example.com.; example.com")
            ),
            vec!["example.com", "*.example.com", "www.example.com"]
        );
        assert_eq!(names(Some("a.example.com"), None), vec!["a.example.com"]);
        assert_eq!(names(None, Some("a.example.com,b.example.com")).len(), 2);
        assert!(names(Some(" "), Some("")).is_empty());
    }

    #[test]
    fn times_in_every_shape_scm_may_write_them() {
        let t = 1_803_599_999; // 2027-02-25T23:59:59Z
        assert_eq!(parse_time("2027-02-25 23:59:59"), Some(t));
        assert_eq!(parse_time("2027-02-25 23:59:59.0"), Some(t));
        assert_eq!(parse_time("2027-02-25T23:59:59Z"), Some(t));
        assert_eq!(parse_time("2027-02-26T07:59:59+08:00"), Some(t));
        assert_eq!(parse_time("1803599999000"), Some(t));
        assert_eq!(parse_time("1803599999"), Some(t));
        for bad in [
            "",
            "soon",
            "2027-02-30 00:00:00",
            "2027-02-25",
            "2027/02/25 23:59:59",
            "2027-02-25 23:59:59+aé00",
            "2027-02-25 23:59:59+é:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    fn facts(status: &str, not_after: Option<&str>, domain: Option<&str>) -> ScmFacts {
        ShowCertificate {
            status: Some(status.into()),
            not_after: not_after.map(str::to_string),
            domain: domain.map(str::to_string),
            ..Default::default()
        }
        .facts()
    }

    #[test]
    fn an_issued_certificate_naming_a_domain_passes() {
        let f = facts("ISSUED", Some("2027-02-25 23:59:59.0"), Some("example.com"));
        assert_eq!(f.not_after.as_deref(), Some("2027-02-25T23:59:59Z"));
        assert_eq!(check(&f, 1_800_000_000), Ok(()));
        assert_eq!(check(&facts("UPLOAD", None, Some("a.example")), 0), Ok(()));
    }

    #[test]
    fn expired_unissued_or_nameless_certificates_are_refused() {
        let f = facts("ISSUED", Some("2027-02-25 23:59:59"), Some("example.com"));
        let e = check(&f, 1_803_600_000).unwrap_err();
        assert_eq!(e.code(), "certificate_expired");
        assert_eq!(e.to_string(), "certificate expired on 2027-02-25T23:59:59Z");
        let e = check(&facts("EXPIRED", None, Some("example.com")), 0).unwrap_err();
        assert_eq!(e.code(), "certificate_expired");
        let e = check(&facts("REVOKED", None, Some("example.com")), 0).unwrap_err();
        assert_eq!(e, ScmRefusal::NotIssued("REVOKED".into()));
        assert_eq!(e.code(), "invalid_certificate");
        let e = check(&facts("ISSUED", None, None), 0).unwrap_err();
        assert_eq!(e, ScmRefusal::NoNames);
    }
}
