//! Where messages go, from the environment only (an event must never choose where a message goes,
//! nor read a webhook's token): `DEPLOY_NOTIFY_*`, SPEC section 9.

use std::fmt;

use reqwest::Url;

use crate::endpoint::Endpoint;
use crate::error::ConfigError;
use crate::secret::Secret;

/// When a run sends its digest (`DEPLOY_NOTIFY_ON`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifyOn {
    /// The run is not `ok`, or a domain is `expiring`.
    #[default]
    Problems,
    /// Problems, or any domain `deployed`.
    Changes,
    Always,
}

/// A chat tool's webhook body (`DEPLOY_NOTIFY_WEBHOOK_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Slack,
    Feishu,
    DingTalk,
    WeCom,
    /// The whole result, with the digest, for anything else.
    Json,
}

impl WebhookFormat {
    /// The format's name in configuration and in the result.
    pub fn name(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Feishu => "feishu",
            Self::DingTalk => "dingtalk",
            Self::WeCom => "wecom",
            Self::Json => "json",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Slack,
            Self::Feishu,
            Self::DingTalk,
            Self::WeCom,
            Self::Json,
        ]
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(s))
    }

    /// The format the well-known hosts take, when none is configured.
    fn for_host(host: &str) -> Self {
        match host {
            "hooks.slack.com" => Self::Slack,
            "open.feishu.cn" | "open.larksuite.com" => Self::Feishu,
            "oapi.dingtalk.com" => Self::DingTalk,
            "qyapi.weixin.qq.com" => Self::WeCom,
            _ => Self::Json,
        }
    }
}

/// A webhook URL: it carries the bot's access token (DingTalk, WeCom) or is the secret itself
/// (Slack, Feishu), so only its host is ever shown.
#[derive(Clone)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// The URL to send to.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// The host, for logs.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({}, <redacted path and query>)", self.host())
    }
}

/// An SNS topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsTopic {
    pub arn: String,
    /// The region, from the ARN.
    pub region: String,
}

/// An SMN topic and where to call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmnTopic {
    pub urn: String,
    pub project_id: String,
    pub endpoint: Endpoint,
}

/// A chat or HTTP webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: WebhookUrl,
    pub format: WebhookFormat,
    /// Signs Feishu and DingTalk bot messages.
    pub secret: Option<Secret>,
}

/// Every configured channel and when to use them.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    pub on: NotifyOn,
    pub sns: Option<SnsTopic>,
    pub smn: Option<SmnTopic>,
    pub webhook: Option<Webhook>,
}

impl NotifyConfig {
    /// Whether any channel is configured.
    pub fn any(&self) -> bool {
        self.sns.is_some() || self.smn.is_some() || self.webhook.is_some()
    }

    /// Reads the `DEPLOY_NOTIFY_*` variables (and the SMN endpoint and project) through `env`.
    pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let on = match get("DEPLOY_NOTIFY_ON").as_deref() {
            None | Some("problems") => NotifyOn::Problems,
            Some("changes") => NotifyOn::Changes,
            Some("always") => NotifyOn::Always,
            Some(other) => {
                return Err(ConfigError::new(
                    "DEPLOY_NOTIFY_ON",
                    format!("`{other}` is not `problems`, `changes` or `always`"),
                ))
            }
        };
        let sns = get("DEPLOY_NOTIFY_SNS_TOPIC_ARN")
            .map(|arn| parse_topic_arn(&arn))
            .transpose()?;
        let smn = match get("DEPLOY_NOTIFY_SMN_TOPIC_URN") {
            None => None,
            Some(urn) => {
                let (region, urn_project) = parse_topic_urn(&urn)?;
                let endpoint = match get("HUAWEICLOUD_SMN_ENDPOINT") {
                    Some(e) => Endpoint::parse(&e)
                        .map_err(|e| ConfigError::new("HUAWEICLOUD_SMN_ENDPOINT", e.to_string()))?,
                    None => Endpoint::parse(&format!("https://smn.{region}.myhuaweicloud.com"))
                        .map_err(|e| {
                            ConfigError::new("DEPLOY_NOTIFY_SMN_TOPIC_URN", e.to_string())
                        })?,
                };
                let project_id = get("HUAWEICLOUD_SDK_PROJECT_ID")
                    .or_else(|| get("RUNTIME_PROJECT_ID"))
                    .unwrap_or(urn_project);
                Some(SmnTopic {
                    urn,
                    project_id,
                    endpoint,
                })
            }
        };
        let webhook = match get("DEPLOY_NOTIFY_WEBHOOK_URL") {
            None => None,
            Some(raw) => {
                let url = parse_webhook_url(&raw)?;
                let format = match get("DEPLOY_NOTIFY_WEBHOOK_FORMAT") {
                    None => WebhookFormat::for_host(url.host()),
                    Some(f) => WebhookFormat::parse(&f).ok_or_else(|| {
                        ConfigError::new(
                            "DEPLOY_NOTIFY_WEBHOOK_FORMAT",
                            format!(
                                "`{f}` is not `slack`, `feishu`, `dingtalk`, `wecom` or `json`"
                            ),
                        )
                    })?,
                };
                Some(Webhook {
                    url,
                    format,
                    secret: get("DEPLOY_NOTIFY_WEBHOOK_SECRET").map(Secret::new),
                })
            }
        };
        Ok(Self {
            on,
            sns,
            smn,
            webhook,
        })
    }
}

/// `arn:aws:sns:<region>:<account>:<topic>` (any partition).
fn parse_topic_arn(arn: &str) -> Result<SnsTopic, ConfigError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && is_region(parts[3])
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty();
    if !ok {
        return Err(ConfigError::new(
            "DEPLOY_NOTIFY_SNS_TOPIC_ARN",
            format!("`{arn}` is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)"),
        ));
    }
    Ok(SnsTopic {
        arn: arn.to_string(),
        region: parts[3].to_string(),
    })
}

/// `urn:smn:<region>:<project_id>:<topic>`: the region and the project.
fn parse_topic_urn(urn: &str) -> Result<(String, String), ConfigError> {
    let parts: Vec<&str> = urn.split(':').collect();
    let ok = parts.len() == 5
        && parts[0] == "urn"
        && parts[1] == "smn"
        && is_region(parts[2])
        && !parts[3].is_empty()
        && parts[3].bytes().all(|b| b.is_ascii_alphanumeric())
        && !parts[4].is_empty();
    if !ok {
        return Err(ConfigError::new(
            "DEPLOY_NOTIFY_SMN_TOPIC_URN",
            format!("`{urn}` is not an SMN topic URN (urn:smn:<region>:<project_id>:<topic>)"),
        ));
    }
    Ok((parts[2].to_string(), parts[3].to_string()))
}

fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `https://` (or `http://` on loopback); an error never repeats the URL (it holds a token).
fn parse_webhook_url(raw: &str) -> Result<WebhookUrl, ConfigError> {
    let var = "DEPLOY_NOTIFY_WEBHOOK_URL";
    let url = Url::parse(raw).map_err(|_| ConfigError::new(var, "is not a URL"))?;
    match Endpoint::parse(&format!(
        "{}://{}",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )) {
        Ok(_) if url.host_str().is_some() => Ok(WebhookUrl(url)),
        _ => Err(ConfigError::new(
            var,
            "must use https:// (http:// only for loopback hosts)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_env as env;

    #[test]
    fn nothing_configured_is_no_channel() {
        let c = NotifyConfig::from_env(&env(&[])).unwrap();
        assert!(!c.any());
        assert_eq!(c.on, NotifyOn::Problems);
    }

    #[test]
    fn channels_from_the_environment() {
        let c = NotifyConfig::from_env(&env(&[
            ("DEPLOY_NOTIFY_ON", "changes"),
            (
                "DEPLOY_NOTIFY_SNS_TOPIC_ARN",
                "arn:aws-cn:sns:cn-north-1:123456789012:certs",
            ),
            (
                "DEPLOY_NOTIFY_SMN_TOPIC_URN",
                "urn:smn:ap-southeast-1:0123456789abcdef0123456789abcdef:certs",
            ),
            (
                "DEPLOY_NOTIFY_WEBHOOK_URL",
                "https://oapi.dingtalk.com/robot/send?access_token=tok-123",
            ),
        ]))
        .unwrap();
        assert_eq!(c.on, NotifyOn::Changes);
        assert_eq!(c.sns.unwrap().region, "cn-north-1");
        let smn = c.smn.unwrap();
        assert_eq!(smn.project_id, "0123456789abcdef0123456789abcdef");
        assert_eq!(smn.endpoint.host(), "smn.ap-southeast-1.myhuaweicloud.com");
        let hook = c.webhook.unwrap();
        assert_eq!(hook.format, WebhookFormat::DingTalk);
        assert!(!format!("{hook:?}").contains("tok-123"));
    }

    #[test]
    fn bad_values_name_the_variable_and_never_echo_a_webhook_url() {
        let e = NotifyConfig::from_env(&env(&[(
            "DEPLOY_NOTIFY_WEBHOOK_URL",
            "http://hooks.example.com/t/secret-token",
        )]))
        .unwrap_err();
        assert_eq!(e.variable, "DEPLOY_NOTIFY_WEBHOOK_URL");
        assert!(!e.to_string().contains("secret-token"));
        let e = NotifyConfig::from_env(&env(&[("DEPLOY_NOTIFY_ON", "sometimes")])).unwrap_err();
        assert_eq!(e.variable, "DEPLOY_NOTIFY_ON");
        let e =
            NotifyConfig::from_env(&env(&[("DEPLOY_NOTIFY_SNS_TOPIC_ARN", "certs")])).unwrap_err();
        assert_eq!(e.variable, "DEPLOY_NOTIFY_SNS_TOPIC_ARN");
        let e = NotifyConfig::from_env(&env(&[
            ("DEPLOY_NOTIFY_WEBHOOK_FORMAT", "teams"),
            ("DEPLOY_NOTIFY_WEBHOOK_URL", "https://x.example.com/h"),
        ]))
        .unwrap_err();
        assert_eq!(e.variable, "DEPLOY_NOTIFY_WEBHOOK_FORMAT");
    }
}
