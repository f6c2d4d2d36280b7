//! Telling a person what a scheduled doctor found (SPEC section 9's channels), pure: when a
//! report is told, and its digest, so that a weekly doctor is the expiry monitor.

use super::judge::{Level, Problem};
use super::Report;
use crate::notify::config::NotifyOn;
use crate::notify::digest::{Digest, Item};

/// Whether `report` is told under `on`: always, or when a check failed or a domain's
/// certificate is expiring (`problems` and `changes` alike: a doctor changes nothing).
pub fn due(on: NotifyOn, report: &Report) -> bool {
    on == NotifyOn::Always || !report.ok || expiring(report) > 0
}

fn expiring(report: &Report) -> usize {
    report
        .domains
        .iter()
        .filter(|d| d.problems.contains(&Problem::Expiring))
        .count()
}

/// The digest of a report: failed and warned checks first (the write permission's standing
/// warning left out), then each domain with a problem, then the counts.
pub fn digest(report: &Report) -> Digest {
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Level::Fail)
        .count();
    let expiring = expiring(report);
    let total = report.domains.len();
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} checks failed"));
    }
    if expiring > 0 {
        parts.push(format!("{expiring} expiring"));
    }
    let subject = match parts.is_empty() {
        true => format!("cdn-cert-deploy doctor: all {total} domains ready"),
        false => format!(
            "cdn-cert-deploy doctor: {} of {total} domains",
            parts.join(", ")
        ),
    };
    let head = report
        .checks
        .iter()
        .filter(|c| c.status != Level::Ok && c.name != "permission:write")
        .map(|c| {
            let mark = if c.status == Level::Fail {
                "FAIL"
            } else {
                "WARN"
            };
            match &c.advice {
                Some(a) => format!("{mark} {}: {} ({a})", c.name, c.message),
                None => format!("{mark} {}: {}", c.name, c.message),
            }
        })
        .collect();
    let items = report
        .domains
        .iter()
        .filter(|d| !d.problems.is_empty())
        .map(|d| {
            let words: Vec<&str> = d.problems.iter().map(|p| p.word()).collect();
            let mut detail = words.join(", ");
            if let Some(c) = &d.certificate {
                detail.push_str(&format!(
                    "; serves a certificate that expires {} ({} days)",
                    &c.not_after[..c.not_after.len().min(10)],
                    c.days_left
                ));
            }
            Item {
                label: d.problems[0].word().to_ascii_uppercase(),
                domain: d.domain.clone(),
                detail,
            }
        })
        .collect();
    let with = report
        .domains
        .iter()
        .filter(|d| !d.problems.is_empty())
        .count();
    let mut foot = format!("{total} domains judged, {with} with a problem");
    if let Some(f) = &report.forecast {
        foot.push_str(&format!(
            "; a deployment would take about {} s of a {} s budget",
            f.seconds, f.budget_seconds
        ));
    }
    Digest {
        subject,
        head,
        items,
        foot,
    }
}

#[cfg(test)]
mod tests {
    use super::super::judge::{Check, DomainEntry, Served, Write};
    use super::*;

    fn entry(name: &str, problems: Vec<Problem>, days: i64) -> DomainEntry {
        DomainEntry {
            domain: name.into(),
            exists: true,
            status: Some("online".into()),
            service_area: None,
            https: Some(true),
            certificate: Some(Served {
                names: vec![name.into()],
                issuer: None,
                not_after: "2027-01-01T00:00:00Z".into(),
                days_left: days,
            }),
            covered: None,
            sm_certificate: Some(false),
            cname_ok: None,
            write: Some(Write::Alone),
            why: None,
            problems,
        }
    }

    #[test]
    fn an_expiring_domain_is_told_and_a_quiet_account_is_not() {
        let checks = vec![
            Check::ok("credentials", "ok"),
            Check::warn("permission:write", "not proved", "grant"),
        ];
        let quiet = Report::of(
            checks.clone(),
            vec![entry("a.example.com", vec![], 60)],
            None,
        );
        assert!(!due(NotifyOn::Problems, &quiet));
        assert!(due(NotifyOn::Always, &quiet));
        assert_eq!(
            digest(&quiet).subject,
            "cdn-cert-deploy doctor: all 1 domains ready"
        );
        let soon = Report::of(
            checks,
            vec![entry("b.example.com", vec![Problem::Expiring], 9)],
            None,
        );
        assert!(due(NotifyOn::Problems, &soon) && due(NotifyOn::Changes, &soon));
        let d = digest(&soon);
        assert_eq!(d.subject, "cdn-cert-deploy doctor: 1 expiring of 1 domains");
        assert!(
            d.head.is_empty(),
            "the standing write warning is not told: {:?}",
            d.head
        );
        assert_eq!(d.items[0].label, "EXPIRING");
        assert!(
            d.items[0].detail.contains("2027-01-01 (9 days)"),
            "{:?}",
            d.items[0]
        );
    }
}
