//! The doctor's report for a person in a terminal (`--format text`): the checks, a domain
//! table, then the forecast (pure).

use std::fmt::Write as _;

use super::judge::{DomainEntry, Level, Write};
use super::Report;

/// The report as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let verdict = if report.ok {
        "no check failed"
    } else {
        "some checks failed"
    };
    let _ = writeln!(out, "cdn-cert-deploy doctor: {verdict}\n");
    for c in &report.checks {
        let mark = match c.status {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        let _ = writeln!(out, "{mark} {:<38} {}", c.name, c.message);
        if let Some(a) = &c.advice {
            let _ = writeln!(out, "     {:<38} → {a}", "");
        }
    }
    if !report.domains.is_empty() {
        let width = report
            .domains
            .iter()
            .map(|d| d.domain.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "\n{:<width$}  {:<16} {:<5} {:<10} {:<6} {:<6} problems",
            "domain", "status", "https", "not after", "days", "write"
        );
        for d in &report.domains {
            let _ = writeln!(out, "{}", row(d, width));
        }
    }
    if let Some(f) = &report.forecast {
        let c = &f.calls;
        let _ = writeln!(
            out,
            "\nforecast: about {} s of a {} s budget ({}; a write assumed live after {} s); calls: {} list, {} bulk HTTPS, {} full reads, {} writes, {} batch writes",
            f.seconds,
            f.budget_seconds,
            if f.fits_budget { "fits" } else { "does not fit" },
            f.settle_seconds,
            c.list,
            c.https_info,
            c.configs_read,
            c.write,
            c.batch
        );
        if let Some(a) = &f.advice {
            let _ = writeln!(out, "  → {a}");
        }
    }
    out
}

fn row(d: &DomainEntry, width: usize) -> String {
    let or_dash = |s: Option<String>| s.unwrap_or_else(|| "-".into());
    let https = d.https.map(|h| if h { "on" } else { "off" }.to_string());
    let not_after = d
        .certificate
        .as_ref()
        .map(|c| c.not_after.chars().take(10).collect::<String>());
    let days = d.certificate.as_ref().map(|c| c.days_left.to_string());
    let write = d.write.map(|w| {
        match w {
            Write::Batch => "batch",
            Write::Alone => "alone",
            Write::None => "none",
        }
        .to_string()
    });
    let problems: Vec<&str> = d.problems.iter().map(|p| p.word()).collect();
    format!(
        "{:<width$}  {:<16} {:<5} {:<10} {:<6} {:<6} {}",
        d.domain,
        or_dash(d.status.clone()),
        or_dash(https),
        or_dash(not_after),
        or_dash(days),
        or_dash(write),
        if problems.is_empty() {
            "-".to_string()
        } else {
            problems.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::super::judge::{Check, Problem};
    use super::*;

    #[test]
    fn the_text_shows_the_checks_then_the_table() {
        let entry = DomainEntry {
            domain: "www.example.com".into(),
            exists: true,
            status: Some("online".into()),
            service_area: None,
            https: Some(true),
            certificate: None,
            covered: Some(true),
            sm_certificate: Some(false),
            cname_ok: None,
            write: Some(Write::Alone),
            why: None,
            problems: vec![Problem::Expiring],
        };
        let report = Report::of(
            vec![
                Check::ok("credentials", "keys from the environment sign reads"),
                Check::fail(
                    "clock",
                    "the local clock is 1204 s behind the CDN's",
                    "sync the clock",
                ),
            ],
            vec![entry],
            None,
        );
        let text = render(&report);
        assert!(
            text.starts_with("cdn-cert-deploy doctor: some checks failed"),
            "{text}"
        );
        assert!(text.contains("FAIL clock"), "{text}");
        assert!(text.contains("→ sync the clock"), "{text}");
        let table = text
            .lines()
            .skip_while(|l| !l.starts_with("domain"))
            .collect::<Vec<_>>();
        assert!(table[1].starts_with("www.example.com"), "{text}");
        assert!(
            table[1].contains("online") && table[1].ends_with("expiring"),
            "{text}"
        );
    }
}
