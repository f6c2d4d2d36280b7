//! Which domains a run deploys to: the listed ones the certificate covers (`exact`), or every
//! domain of the account it covers (`certsan`). Pure.

use crate::cert;
use crate::error::ErrorCode;
use crate::huawei::model::{DomainStatus, ListedDomain};
use crate::result::ErrorInfo;

/// A domain of the run, attempted or skipped before any call about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    Deploy(String),
    Skip(String, ErrorInfo),
}

impl Selected {
    /// The domain's name.
    pub fn domain(&self) -> &str {
        match self {
            Selected::Deploy(d) | Selected::Skip(d, _) => d,
        }
    }
}

/// `match: exact`: each listed domain, skipped when the certificate's `names` do not cover it
/// (`names` is `None` for a Certificate Manager certificate, whose names are not known here).
pub fn exact(domains: &[String], names: Option<&[String]>) -> Vec<Selected> {
    domains
        .iter()
        .map(|d| match names {
            Some(names) if !cert::covered_by(names, d) => {
                Selected::Skip(d.clone(), not_covered(names, d))
            }
            _ => Selected::Deploy(d.clone()),
        })
        .collect()
}

/// `match: certsan`: every account domain the certificate covers, in ListDomains order; those that
/// cannot take a certificate now (offline, being checked, check failed, being deleted) are skipped
/// with the reason. Domains the request also lists are added after them, judged as in `exact`.
pub fn certsan(listed: &[ListedDomain], names: &[String], also: &[String]) -> Vec<Selected> {
    let mut out: Vec<Selected> = listed
        .iter()
        .filter(|l| cert::covered_by(names, &l.domain_name))
        .map(|l| {
            let d = l.domain_name.to_ascii_lowercase();
            match l.domain_status {
                DomainStatus::Offline
                | DomainStatus::Checking
                | DomainStatus::CheckFailed
                | DomainStatus::Deleting => Selected::Skip(
                    d,
                    ErrorInfo::new(
                        ErrorCode::DomainUnavailable,
                        format!(
                            "the domain is `{}`; a certificate can be deployed once it is online",
                            l.domain_status.as_str()
                        ),
                    ),
                ),
                _ => Selected::Deploy(d),
            }
        })
        .collect();
    let listed: std::collections::HashSet<String> =
        out.iter().map(|o| o.domain().to_string()).collect();
    for s in exact(also, Some(names)) {
        if !listed.contains(s.domain()) {
            out.push(s);
        }
    }
    out
}

/// The names a message lists before it says how many more there are.
const NAMES_LISTED: usize = 5;

fn not_covered(names: &[String], d: &str) -> ErrorInfo {
    let mut list = names
        .iter()
        .take(NAMES_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMES_LISTED {
        list.push_str(&format!(" and {} more", names.len() - NAMES_LISTED));
    }
    ErrorInfo::new(
        ErrorCode::DomainNotCovered,
        format!("the certificate's names ({list}) do not cover {d}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_list_is_cut_in_the_message() {
        let names: Vec<String> = (0..100).map(|i| format!("n{i}.example.com")).collect();
        let e = not_covered(&names, "x.org");
        assert!(
            e.message.contains("n4.example.com and 95 more"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("n5.example.com"));
    }

    fn listed(name: &str, status: &str) -> ListedDomain {
        ListedDomain {
            domain_name: name.into(),
            domain_status: DomainStatus::parse(status),
            cname: None,
        }
    }

    fn names() -> Vec<String> {
        vec!["example.com".into(), "*.example.com".into()]
    }

    #[test]
    fn certsan_takes_covered_domains_in_list_order() {
        let account = [
            listed("img.example.com", "online"),
            listed("example.org", "online"),
            listed("a.b.example.com", "online"),
            listed("*.example.com", "configuring"),
            listed("example.com", "configure_failed"),
            listed("old.example.com", "offline"),
            listed("new.example.com", "checking"),
            listed("bad.example.com", "check_failed"),
            listed("gone.example.com", "deleting"),
            listed("*.b.example.com", "online"),
        ];
        let got = certsan(&account, &names(), &[]);
        let deploy: Vec<&str> = got
            .iter()
            .filter_map(|s| match s {
                Selected::Deploy(d) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            deploy,
            vec!["img.example.com", "*.example.com", "example.com"]
        );
        let skipped: Vec<(&str, &str)> = got
            .iter()
            .filter_map(|s| match s {
                Selected::Skip(d, e) => Some((d.as_str(), e.code.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            skipped,
            vec![
                ("old.example.com", "domain_unavailable"),
                ("new.example.com", "domain_unavailable"),
                ("bad.example.com", "domain_unavailable"),
                ("gone.example.com", "domain_unavailable"),
            ]
        );
    }

    #[test]
    fn a_cdn_wildcard_domain_needs_a_wildcard_name() {
        let account = [
            listed("*.example.com", "online"),
            listed("www.example.com", "online"),
        ];
        let got = certsan(&account, &["www.example.com".to_string()], &[]);
        assert_eq!(got, vec![Selected::Deploy("www.example.com".into())]);
    }

    #[test]
    fn listed_domains_are_added_after_the_account_ones() {
        let account = [listed("img.example.com", "online")];
        let also = [
            "www.example.com".to_string(),
            "img.example.com".to_string(),
            "x.org".to_string(),
        ];
        let got = certsan(&account, &names(), &also);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], Selected::Deploy("www.example.com".into()));
        assert!(
            matches!(&got[2], Selected::Skip(d, e) if d == "x.org" && e.code == "domain_not_covered")
        );
    }

    #[test]
    fn exact_skips_what_is_not_covered() {
        let got = exact(&["www.example.com".into(), "x.org".into()], Some(&names()));
        assert_eq!(got[0], Selected::Deploy("www.example.com".into()));
        assert!(matches!(&got[1], Selected::Skip(_, e) if e.code == "domain_not_covered"));
        assert_eq!(
            exact(&["x.org".into()], None),
            vec![Selected::Deploy("x.org".into())]
        );
    }
}
