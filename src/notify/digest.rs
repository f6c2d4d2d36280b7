//! The digest of a run, as a person reads it on a phone: a subject line, the certificate, then
//! each domain that needs a look (not live, or serving a certificate that expires soon), then the
//! counts; cut to each channel's size limit with "… and N more". Pure.

use crate::result::{DeployResult, DomainResult, RunMode, Status};

/// The longest detail kept for one domain (a CDN message can be long).
const DETAIL_CHARS: usize = 300;

/// A run told briefly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub subject: String,
    /// Lines before the domains: the certificate, a run-level error, the time taken.
    pub head: Vec<String>,
    /// One per domain that needs a look, worst first.
    pub items: Vec<Item>,
    /// The counts.
    pub foot: String,
}

/// One domain that needs a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `FAILED`, `PENDING`, `SKIPPED`, `EXPIRING`, ...
    pub label: String,
    pub domain: String,
    pub detail: String,
}

/// How a channel shows text. Every style shows the digest's names and messages (a domain, a
/// certificate name, the CDN's words) as text: none becomes a link, a mention or markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    /// Slack's mrkdwn: plain lines, with `&`, `<` and `>` as the entities Slack's "Escaping
    /// text" asks for (`<https://x|click>` is a link there, `<!channel>` a mention).
    Slack,
    /// DingTalk and WeCom markdown: a bold subject, a list of domains.
    Markdown,
}

impl Style {
    /// `text` as this style shows it as text.
    pub fn text(self, text: &str) -> String {
        match self {
            Style::Plain => text.to_string(),
            Style::Slack => text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;"),
            Style::Markdown => markdown_text(text),
        }
    }
}

/// Text for DingTalk's and WeCom's markdown, which document no escape character: the brackets
/// that open a link or an image (`[t](url)`), a mention or a tag (WeCom's `<@userid>`,
/// `<font>`), an autolink (`<https://…>`) become their full-width forms, and a line break a
/// space (so no text starts a heading or a quote). `*` is kept: a wildcard domain shows as itself.
fn markdown_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '[' => '［',
            ']' => '］',
            '<' => '＜',
            '>' => '＞',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// How the body's size is counted against a limit (bytes as sent: raw, or inside a JSON string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Bytes,
    JsonString,
}

impl Measure {
    fn len(self, s: &str) -> usize {
        match self {
            Measure::Bytes => s.len(),
            Measure::JsonString => s
                .chars()
                .map(|c| match c {
                    '"' | '\\' | '\n' | '\r' | '\t' => 2,
                    c if (c as u32) < 0x20 => 6,
                    c => c.len_utf8(),
                })
                .sum(),
        }
    }
}

/// Whether `result` has something a person must look at: it is not `ok`, a domain still
/// serves a certificate that expires soon, or a write changed settings (written back since).
pub fn has_problems(result: &DeployResult) -> bool {
    !result.ok
        || result
            .domains
            .iter()
            .any(|d| d.expiring || !d.settings_changed.is_empty())
}

/// The digest of `result`: a subject, the run's head lines, an item for each domain to look at
/// (the worst first), the counts.
pub fn digest(result: &DeployResult) -> Digest {
    let expiring = result.domains.iter().filter(|d| d.expiring).count();
    Digest {
        subject: subject(result, expiring),
        head: head(result),
        items: items(result),
        foot: foot(result, expiring),
    }
}

/// `cdn-cert-deploy: 2 failed, 1 pending of 40 domains`, `... all 40 live`, `... 3 expiring`.
fn subject(result: &DeployResult, expiring: usize) -> String {
    let s = &result.summary;
    let restored = result
        .domains
        .iter()
        .filter(|d| d.status == Status::Deployed && !d.settings_changed.is_empty())
        .count();
    let mut parts: Vec<String> = Vec::new();
    for (n, word) in [
        (s.failed, "failed"),
        (s.pending, "pending"),
        (s.skipped, "skipped"),
        (restored, "with settings restored"),
        (expiring, "expiring"),
        (s.edge_stale.unwrap_or(0), "stale at the edge"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let subject = match (result.mode, &result.error, parts.is_empty()) {
        (_, Some(e), _) if s.total == 0 => format!("run failed: {}", e.code),
        (RunMode::DryRun, _, _) => {
            parts.insert(0, format!("{} to write", s.planned));
            format!("dry run, {} of {} domains", parts.join(", "), s.total)
        }
        (RunMode::NoWait, _, true) => {
            format!("{} submitted, {} unchanged", s.submitted, s.unchanged)
        }
        (RunMode::Deploy, _, true) if result.ok => format!("all {} live", s.total),
        (_, Some(e), true) => format!("run failed: {}", e.code),
        _ => format!("{} of {} domains", parts.join(", "), s.total),
    };
    format!("cdn-cert-deploy: {subject}")
}

/// The certificate deployed (name, expiry, fingerprint, store) and the run's error, if any.
fn head(result: &DeployResult) -> Vec<String> {
    let mut head = Vec::new();
    if let Some(c) = &result.certificate {
        let mut line = format!("Certificate {}", c.name);
        if let Some(leaf) = &c.leaf {
            line.push_str(&format!(
                ", expires {} (SHA-256 {}…)",
                day(&leaf.not_after),
                &leaf.sha256_fingerprint[..leaf.sha256_fingerprint.len().min(16)]
            ));
        } else if let Some(not_after) = c.scm.as_ref().and_then(|s| s.not_after.as_deref()) {
            line.push_str(&format!(", expires {}", day(not_after)));
        }
        if let Some(src) = &c.source {
            line.push_str(&format!(", from {src}"));
        }
        head.push(line);
    }
    if let Some(e) = &result.error {
        head.push(format!(
            "Run error {}: {}",
            e.code,
            cut_chars(&e.message, DETAIL_CHARS)
        ));
    }
    head
}

/// Why a domain is in the digest, the worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Failed,
    Skipped,
    Pending,
    SettingsRestored,
    Expiring,
    StaleEdge,
}

impl Rank {
    fn of(d: &DomainResult) -> Option<Self> {
        Some(match d.status {
            Status::Failed => Self::Failed,
            Status::Skipped => Self::Skipped,
            Status::Pending => Self::Pending,
            _ if !d.settings_changed.is_empty() => Self::SettingsRestored,
            _ if d.expiring => Self::Expiring,
            _ if d.edge.as_ref().is_some_and(|e| e.is_stale()) => Self::StaleEdge,
            _ => return None,
        })
    }

    fn label(self, d: &DomainResult) -> String {
        match self {
            Self::SettingsRestored => "SETTINGS RESTORED".to_string(),
            Self::Expiring => "EXPIRING".to_string(),
            Self::StaleEdge => "STALE EDGE".to_string(),
            _ => d.status.as_str().to_ascii_uppercase(),
        }
    }
}

/// An item for each domain a person should look at, the worst first (stable within a rank).
fn items(result: &DeployResult) -> Vec<Item> {
    let new_not_after = result.certificate.as_ref().and_then(|c| {
        c.leaf
            .as_ref()
            .map(|l| l.not_after.as_str())
            .or_else(|| c.scm.as_ref().and_then(|s| s.not_after.as_deref()))
    });
    let mut items: Vec<(Rank, Item)> = result
        .domains
        .iter()
        .filter_map(|d| {
            let rank = Rank::of(d)?;
            let item = Item {
                label: rank.label(d),
                domain: d.domain.clone(),
                detail: detail(d, rank, new_not_after),
            };
            Some((rank, item))
        })
        .collect();
    items.sort_by_key(|(rank, _)| *rank);
    items.into_iter().map(|(_, i)| i).collect()
}

/// What an item says of its domain: the error (or the settings written back), when its
/// certificate expires if it is expiring, what a stale edge serves, and a request id.
fn detail(d: &DomainResult, rank: Rank, new_not_after: Option<&str>) -> String {
    let mut detail = match (&d.error, &d.message) {
        _ if rank == Rank::SettingsRestored => cut_chars(
            &format!(
                "a write changed {}; written back",
                d.settings_changed
                    .iter()
                    .map(|c| c.setting)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            DETAIL_CHARS,
        ),
        _ if rank >= Rank::Expiring => String::new(),
        (Some(e), _) => cut_chars(&format!("{}: {}", e.code, e.message), DETAIL_CHARS),
        (None, Some(m)) => cut_chars(m, DETAIL_CHARS),
        (None, None) => String::new(),
    };
    let served_until = match d.status {
        Status::Deployed | Status::Unchanged => new_not_after.or(d.previous_not_after.as_deref()),
        _ => d.previous_not_after.as_deref(),
    };
    if let (true, Some(t)) = (d.expiring, served_until) {
        if !detail.is_empty() {
            detail.push_str("; still ");
        }
        detail.push_str(&format!("serves a certificate that expires {}", day(t)));
    }
    if let Some(e) = d.edge.as_ref().filter(|e| e.is_stale()) {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        let fp = e.sha256_fingerprint.as_deref().unwrap_or_default();
        detail.push_str(&format!(
            "the edge {} still serves another certificate (SHA-256 {}…, expires {})",
            e.address.as_deref().unwrap_or("?"),
            &fp[..fp.len().min(16)],
            e.not_after.as_deref().map(day).unwrap_or("?")
        ));
    }
    if let Some(id) = d.request_ids.last() {
        detail.push_str(&format!(" (request {id})"));
    }
    detail
}

/// `40 domains: 37 deployed, 1 unchanged, 2 failed; 8.1 s of a 600 s budget`.
fn foot(result: &DeployResult, expiring: usize) -> String {
    let s = &result.summary;
    let mut foot = format!(
        "{} domains: {} deployed, {} unchanged",
        s.total, s.deployed, s.unchanged
    );
    for (n, word) in [
        (s.pending, "pending"),
        (s.submitted, "submitted"),
        (s.planned, "planned"),
        (s.failed, "failed"),
        (s.skipped, "skipped"),
        (expiring, "expiring"),
        (s.edge_stale.unwrap_or(0), "stale at the edge"),
    ] {
        if n > 0 {
            foot.push_str(&format!(", {n} {word}"));
        }
    }
    foot.push_str(&format!(
        "; {:.1} s of a {} s budget",
        result.elapsed_ms as f64 / 1000.0,
        result.budget_ms / 1000
    ));
    foot
}

/// `2027-02-25` of an RFC 3339 time.
fn day(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

/// At most `max` characters, with `…` when cut.
pub fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// The longest prefix of `s` within `max` as measured, on a character boundary.
fn cut_measured(s: &str, max: usize, measure: Measure) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let mut buf = [0u8; 4];
        let n = measure.len(c.encode_utf8(&mut buf));
        if used + n > max {
            break;
        }
        used += n;
        out.push(c);
    }
    out
}

impl Digest {
    /// The body in `style`, within `limit` as `measure` counts it: the head and the counts
    /// always, then as many domains as fit and "… and N more" for the rest.
    pub fn render(
        &self,
        style: Style,
        with_subject: bool,
        limit: usize,
        measure: Measure,
    ) -> String {
        let t = |text: &str| style.text(text);
        let mut top = String::new();
        if with_subject {
            match style {
                Style::Markdown => top.push_str(&format!("**{}**", t(&self.subject))),
                _ => top.push_str(&t(&self.subject)),
            }
            top.push_str("\n\n");
        }
        for line in &self.head {
            top.push_str(&t(line));
            top.push('\n');
        }
        let item = |i: &Item| {
            let (domain, detail) = (t(&i.domain), t(&i.detail));
            match style {
                Style::Markdown => format!("- **{}** {domain}: {detail}\n", i.label),
                _ => format!("{} {domain}: {detail}\n", i.label),
            }
        };
        let more = |n: usize| match style {
            Style::Markdown => format!("- … and {n} more\n"),
            _ => format!("… and {n} more\n"),
        };
        let foot = format!("\n{}", t(&self.foot));
        let lead = if self.items.is_empty() { "" } else { "\n" };
        let fixed = measure.len(&top) + measure.len(lead) + measure.len(&foot);
        let mut body = String::new();
        let mut used = fixed;
        let mut shown = 0;
        for (k, i) in self.items.iter().enumerate() {
            let line = item(i);
            let rest = self.items.len() - k - 1;
            let tail = if rest > 0 {
                measure.len(&more(rest))
            } else {
                0
            };
            if used + measure.len(&line) + tail > limit {
                break;
            }
            used += measure.len(&line);
            body.push_str(&line);
            shown += 1;
        }
        if shown < self.items.len() {
            body.push_str(&more(self.items.len() - shown));
        }
        let text = format!("{top}{lead}{body}{foot}");
        if measure.len(&text) <= limit {
            text
        } else {
            // Not even the head fits (a tiny limit): cut it hard.
            cut_measured(&text, limit, measure)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::CertificateInfo;
    use crate::result::{CertificateSummary, ErrorCode, ErrorInfo};

    fn domain(name: &str, status: Status) -> DomainResult {
        DomainResult {
            status,
            error: None,
            message: Some("online with the new certificate".into()),
            request_ids: vec![format!("rid-{name}")],
            ..DomainResult::skipped(name, ErrorInfo::upstream("x", "x", false))
        }
    }

    fn result(domains: Vec<DomainResult>) -> DeployResult {
        let cert = CertificateSummary {
            name: "example.com-20270226".into(),
            scm_certificate_id: None,
            source: None,
            leaf: Some(CertificateInfo {
                sha256_fingerprint: "ab".repeat(32),
                subject_names: vec!["example.com".into()],
                not_before: "2026-11-27T00:00:00Z".into(),
                not_after: "2027-02-25T00:00:00Z".into(),
                not_after_unix: 0,
            }),
            scm: None,
            trust: None,
            chain: Vec::new(),
        };
        DeployResult::new(domains, RunMode::Deploy, Some(cert), 12_345, 600_000, None)
    }

    #[test]
    fn a_failed_domain_is_named_with_the_cdns_code_and_request_id() {
        let mut failed = domain("old.example.com", Status::Failed);
        failed.error = Some(ErrorInfo::upstream("CDN.0170", "domain not exist!", false));
        let r = result(vec![domain("www.example.com", Status::Deployed), failed]);
        let d = digest(&r);
        assert_eq!(d.subject, "cdn-cert-deploy: 1 failed of 2 domains");
        let text = d.render(Style::Plain, true, 10_000, Measure::Bytes);
        assert!(
            text.contains(
                "FAILED old.example.com: CDN.0170: domain not exist! (request rid-old.example.com)"
            ),
            "{text}"
        );
        assert!(text.contains("Certificate example.com-20270226, expires 2027-02-25"));
        assert!(text.contains("2 domains: 1 deployed, 0 unchanged, 1 failed"));
        assert!(
            !text.contains("www.example.com"),
            "live domains are counted, not listed"
        );
    }

    #[test]
    fn settings_written_back_are_a_problem_named_with_the_settings() {
        let mut restored = domain("hsts.example.com", Status::Deployed);
        restored.settings_changed = vec![crate::result::SettingChange {
            setting: "hsts",
            before: serde_json::json!({"status": "on"}),
            after: serde_json::Value::Null,
        }];
        let plain = result(vec![domain("www.example.com", Status::Deployed)]);
        assert!(!has_problems(&plain));
        let r = result(vec![domain("www.example.com", Status::Deployed), restored]);
        assert!(has_problems(&r), "a notification is due under `problems`");
        let d = digest(&r);
        assert_eq!(
            d.subject,
            "cdn-cert-deploy: 1 with settings restored of 2 domains"
        );
        let text = d.render(Style::Plain, true, 10_000, Measure::Bytes);
        assert!(
            text.contains("SETTINGS RESTORED hsts.example.com: a write changed hsts; written back"),
            "{text}"
        );
    }

    #[test]
    fn subjects() {
        let all = result(vec![
            domain("a.example.com", Status::Deployed),
            domain("b.example.com", Status::Unchanged),
        ]);
        assert_eq!(digest(&all).subject, "cdn-cert-deploy: all 2 live");
        let mut exp = domain("b.example.com", Status::Unchanged);
        exp.expiring = true;
        exp.previous_not_after = Some("2026-12-10T00:00:00Z".into());
        let r = result(vec![domain("a.example.com", Status::Pending), exp]);
        let d = digest(&r);
        assert_eq!(
            d.subject,
            "cdn-cert-deploy: 1 pending, 1 expiring of 2 domains"
        );
        let text = d.render(Style::Markdown, true, 10_000, Measure::Bytes);
        assert!(text.starts_with("**cdn-cert-deploy: 1 pending"));
        assert!(
            text.contains(
                "- **EXPIRING** b.example.com: serves a certificate that expires 2027-02-25"
            ),
            "{text}"
        );
        let none = DeployResult::new(
            Vec::new(),
            RunMode::Deploy,
            None,
            1,
            1,
            Some(ErrorInfo::new(ErrorCode::CertificateSource, "not found")),
        );
        assert_eq!(
            digest(&none).subject,
            "cdn-cert-deploy: run failed: certificate_source"
        );
    }

    #[test]
    fn long_lists_are_cut_inside_the_limit_with_a_count_of_the_rest() {
        let domains: Vec<DomainResult> = (0..500)
            .map(|i| {
                let mut d = domain(&format!("d{i}.example.com"), Status::Failed);
                d.error = Some(ErrorInfo::upstream(
                    "CDN.0001",
                    "\"quoted\" failure\n",
                    false,
                ));
                d
            })
            .collect();
        let d = digest(&result(domains));
        for (limit, measure) in [(4096, Measure::Bytes), (2000, Measure::JsonString)] {
            let text = d.render(Style::Markdown, true, limit, measure);
            assert!(
                measure.len(&text) <= limit,
                "{} > {limit}",
                measure.len(&text)
            );
            assert!(text.contains("more\n"), "{text}");
            assert!(text.ends_with("s budget"), "the counts always stay: {text}");
            let shown = text.matches("**FAILED**").count();
            assert!(text.contains(&format!("… and {} more", 500 - shown)));
        }
        // A tiny limit still gives something within it.
        let tiny = d.render(Style::Plain, true, 20, Measure::Bytes);
        assert!(tiny.len() <= 20);
    }

    /// A digest whose names and messages are crafted to become links, mentions and markup.
    fn crafted() -> Digest {
        Digest {
            subject: "cdn-cert-deploy: 1 failed of 1 domains".into(),
            head: vec!["certificate [click](https://evil.example) <@all>".into()],
            items: vec![Item {
                label: "FAILED".into(),
                domain: "*.example.com".into(),
                detail: "CDN.0001 <https://evil.example|click> <!channel> a&b\n# heading\n> quote ![x](https://evil.example/p.png) <font color=\"warning\">x</font>".into(),
            }],
            foot: "1 failed; <@U123>".into(),
        }
    }

    #[test]
    fn no_chat_dialect_turns_a_crafted_name_into_a_link_or_a_mention() {
        let d = crafted();
        let slack = d.render(Style::Slack, true, 40_000, Measure::Bytes);
        assert!(!slack.contains('<') && !slack.contains('>'), "{slack}");
        assert!(
            slack.contains("&lt;https://evil.example|click&gt; &lt;!channel&gt; a&amp;b"),
            "{slack}"
        );
        let md = d.render(Style::Markdown, true, 40_000, Measure::Bytes);
        for c in ['[', ']', '<', '>'] {
            assert!(!md.contains(c), "{c} in {md}");
        }
        // Our own markup stays; the crafted line breaks do not start a heading or a quote.
        assert!(md.starts_with("**cdn-cert-deploy: 1 failed"), "{md}");
        assert!(md.contains("- **FAILED** *.example.com: CDN.0001 ＜https://evil.example|click＞"));
        assert!(
            md.contains("a&b # heading ＞ quote !［x］(https://evil.example/p.png)"),
            "{md}"
        );
        assert!(
            !md.lines()
                .any(|l| l.starts_with('#') || l.starts_with('＞')),
            "{md}"
        );
        assert!(md.contains("1 failed; ＜@U123＞"), "{md}");
        // Plain text (SNS, SMN, Feishu's text) is shown as text by its channel: left as it is.
        let plain = d.render(Style::Plain, true, 40_000, Measure::Bytes);
        assert!(plain.contains("<!channel> a&b"), "{plain}");
    }

    #[test]
    fn escaped_text_is_counted_against_the_limit() {
        let mut d = crafted();
        d.items = (0..50)
            .map(|i| Item {
                label: "FAILED".into(),
                domain: format!("d{i}.example.com"),
                detail: "<<<<<<<<<<&&&&&&&&&&".into(),
            })
            .collect();
        let text = d.render(Style::Slack, true, 2000, Measure::Bytes);
        assert!(text.len() <= 2000, "{}", text.len());
        assert!(text.contains("more"), "{text}");
    }
}
