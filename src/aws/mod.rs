//! AWS as a certificate store: SigV4 signing ([`sigv4`], by the official crate), the settings
//! from the environment ([`config`]), and the three reads ([`client`]): Secrets Manager
//! GetSecretValue, S3 GetObject, SSM GetParameter.

pub mod client;
pub mod config;
pub mod sigv4;

pub use client::AwsClient;
pub use config::{AwsConfig, Service};
pub use sigv4::AwsCredentials;
