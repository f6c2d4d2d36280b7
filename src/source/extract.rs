//! Takes a PEM chain and key out of what a store holds: a JSON secret (keys given, or the common
//! issuers' layouts), a PEM bundle, or separate texts. Pure. Error messages name keys, never values.

use serde_json::{Map, Value};

use super::spec::Locations;
use crate::secret::Secret;

/// JSON keys of a full chain, in the order tried (certbot file names first).
const FULLCHAIN_KEYS: &[&str] = &["fullchain.pem", "fullchain", "full_chain"];
/// JSON keys of a leaf stored apart from its chain.
const LEAF_KEYS: &[&str] = &["cert.pem", "certificate", "cert", "crt"];
/// JSON keys of the intermediates stored apart from the leaf.
const CHAIN_KEYS: &[&str] = &["chain.pem", "chain", "certificate_chain", "ca"];
/// JSON keys of the private key.
const KEY_KEYS: &[&str] = &["privkey.pem", "private_key", "privkey", "key"];

/// A chain and key taken out of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub chain: String,
    pub private_key: Secret,
}

/// Why a stored value holds no usable chain and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("the value is neither a JSON object nor a PEM bundle")]
    NotJson,
    #[error("JSON key `{key}` is missing (keys present: {})", present.join(", "))]
    MissingKey { key: String, present: Vec<String> },
    #[error("JSON key `{0}` does not hold a string")]
    NotString(String),
    #[error("no known layout: expected `fullchain.pem`/`privkey.pem`, `fullchain`/`private_key` or a leaf and chain (keys present: {}); name them with `json_keys`", present.join(", "))]
    NoLayout { present: Vec<String> },
    #[error("the PEM bundle holds no {0}")]
    BundleMissing(&'static str),
    #[error("`{0}` is not UTF-8 text")]
    NotText(String),
}

impl ExtractError {
    /// The reason word a result reports.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingKey { .. } | Self::NoLayout { .. } | Self::NotString(_) => "bad_json_key",
            _ => "invalid_content",
        }
    }
}

/// Joins a leaf and its intermediates into one chain, leaf first.
pub fn join(leaf: &str, chain: Option<&str>) -> String {
    let mut out = leaf.trim_end().to_string();
    out.push('\n');
    if let Some(c) = chain.map(str::trim).filter(|c| !c.is_empty()) {
        out.push_str(c);
        out.push('\n');
    }
    out
}

/// The chain and key in a secret's text: JSON with `keys` (or a known layout), or a PEM bundle.
pub fn from_secret(text: &str, keys: Option<&Locations>) -> Result<Pair, ExtractError> {
    // Windows editors save a byte-order mark; JSON parsers and PEM readers both stumble on it.
    let text = text.trim_start_matches('\u{feff}');
    let obj: Map<String, Value> = match serde_json::from_str(text) {
        Ok(Value::Object(o)) => o,
        // Not JSON: a PEM bundle, perhaps after text (`openssl pkcs12` writes `Bag Attributes`).
        _ if keys.is_none() && text.contains("-----BEGIN") => return from_bundle(text),
        _ => return Err(ExtractError::NotJson),
    };
    let present = || obj.keys().cloned().collect::<Vec<_>>();
    let get = |key: &str| -> Result<Option<&str>, ExtractError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ExtractError::NotString(key.to_string())),
        }
    };
    let need = |key: &str| -> Result<&str, ExtractError> {
        get(key)?.ok_or_else(|| ExtractError::MissingKey {
            key: key.to_string(),
            present: present(),
        })
    };
    let first = |candidates: &[&str]| -> Result<Option<&str>, ExtractError> {
        for k in candidates {
            if let Some(v) = get(k)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    };
    if let Some(l) = keys {
        let chain = match &l.chain {
            Some(c) => join(need(&l.certificate)?, Some(need(c)?)),
            None => need(&l.certificate)?.to_string(),
        };
        return Ok(Pair {
            chain,
            private_key: Secret::new(need(&l.private_key)?),
        });
    }
    let chain = match first(FULLCHAIN_KEYS)? {
        Some(full) => Some(full.to_string()),
        // A chain that is there but not text is an error, not an absent chain: deploying the
        // leaf alone would break clients that need the intermediates.
        None => match first(LEAF_KEYS)? {
            Some(leaf) => Some(join(leaf, first(CHAIN_KEYS)?)),
            None => None,
        },
    };
    match (chain, first(KEY_KEYS)?) {
        (Some(chain), Some(key)) => Ok(Pair {
            chain,
            private_key: Secret::new(key),
        }),
        _ => Err(ExtractError::NoLayout { present: present() }),
    }
}

/// A PEM bundle with the certificates and the key in one text.
pub fn from_bundle(text: &str) -> Result<Pair, ExtractError> {
    let mut certs = String::new();
    let mut key = None;
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = rest[start..].find(&end_marker) else {
            break;
        };
        let block = &rest[start..start + end + end_marker.len()];
        if label == "CERTIFICATE" {
            certs.push_str(block);
            certs.push('\n');
        } else if label.ends_with("PRIVATE KEY") && key.is_none() {
            key = Some(block.to_string());
        }
        rest = &rest[start + end + end_marker.len()..];
    }
    if certs.is_empty() {
        return Err(ExtractError::BundleMissing("certificate"));
    }
    let key = key.ok_or(ExtractError::BundleMissing("private key"))?;
    Ok(Pair {
        chain: certs,
        private_key: Secret::new(key),
    })
}

/// Text from stored bytes (an object or parameter named `name`).
pub fn text(name: &str, bytes: Vec<u8>) -> Result<String, ExtractError> {
    let text = String::from_utf8(bytes).map_err(|_| ExtractError::NotText(name.to_string()))?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LEAF: &str = "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----";
    const CA: &str = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n";

    #[test]
    fn certbot_file_names() {
        let s =
            json!({"fullchain.pem": format!("{LEAF}\n{CA}"), "privkey.pem": KEY, "cert.pem": LEAF});
        let p = from_secret(&s.to_string(), None).unwrap();
        assert!(p.chain.contains("LEAF") && p.chain.contains("CA"));
        assert_eq!(p.private_key.expose(), KEY);
    }

    #[test]
    fn fullchain_and_private_key() {
        let s = json!({"fullchain": LEAF, "private_key": KEY});
        assert_eq!(from_secret(&s.to_string(), None).unwrap().chain, LEAF);
    }

    #[test]
    fn leaf_and_chain_are_joined() {
        let s = json!({"certificate": LEAF, "certificate_chain": CA, "private_key": KEY});
        let p = from_secret(&s.to_string(), None).unwrap();
        assert_eq!(p.chain, format!("{LEAF}\n{}", CA));
        assert!(p.chain.find("\nLEAF\n").unwrap() < p.chain.find("\nCA\n").unwrap());
    }

    #[test]
    fn named_keys_win_and_a_missing_one_is_named() {
        let s = json!({"crt": LEAF, "ca": CA, "k": KEY}).to_string();
        let keys = Locations {
            certificate: "crt".into(),
            private_key: "k".into(),
            chain: Some("ca".into()),
        };
        assert!(from_secret(&s, Some(&keys)).unwrap().chain.contains("CA"));
        let keys = Locations {
            certificate: "cert".into(),
            private_key: "k".into(),
            chain: None,
        };
        let e = from_secret(&s, Some(&keys)).unwrap_err();
        assert_eq!(e.reason(), "bad_json_key");
        let msg = e.to_string();
        assert!(
            msg.contains("`cert`") && msg.contains("crt, ca, k"),
            "{msg}"
        );
        assert!(!msg.contains("PRIVATE"), "values never appear: {msg}");
    }

    #[test]
    fn unknown_layout_lists_keys_not_values() {
        let e = from_secret(&json!({"pem": LEAF, "secret": KEY}).to_string(), None).unwrap_err();
        assert!(matches!(e, ExtractError::NoLayout { .. }));
        assert!(!e.to_string().contains("BEGIN"));
        assert_eq!(
            from_secret("just text", None).unwrap_err(),
            ExtractError::NotJson
        );
    }

    #[test]
    fn a_chain_that_is_not_text_is_an_error_not_dropped() {
        let s = json!({"certificate": LEAF, "chain": [CA], "private_key": KEY});
        let e = from_secret(&s.to_string(), None).unwrap_err();
        assert_eq!(e, ExtractError::NotString("chain".into()));
    }

    #[test]
    fn a_byte_order_mark_and_text_before_the_pem_are_tolerated() {
        let s = json!({"fullchain": LEAF, "private_key": KEY}).to_string();
        assert_eq!(
            from_secret(&format!("\u{feff}{s}"), None).unwrap().chain,
            LEAF
        );
        let bundle = format!("\u{feff}Bag Attributes\n    localKeyID: 01\n{LEAF}\n{KEY}");
        let p = from_secret(&bundle, None).unwrap();
        assert_eq!(p.chain.trim(), LEAF);
        assert_eq!(p.private_key.expose(), KEY.trim_end());
        let t = text("o", format!("\u{feff}{LEAF}").into_bytes()).unwrap();
        assert!(t.starts_with("-----BEGIN"));
    }

    #[test]
    fn a_pem_bundle_splits() {
        let p = from_secret(&format!("{LEAF}\n{CA}{KEY}"), None).unwrap();
        assert_eq!(p.chain.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(p.private_key.expose().contains("PRIVATE KEY"));
        assert_eq!(
            from_bundle(LEAF).unwrap_err(),
            ExtractError::BundleMissing("private key")
        );
    }
}
