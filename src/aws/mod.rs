//! AWS settings and signing: SigV4 in the specification's steps ([`sigv4`]) and the keys, region
//! and endpoints from the environment ([`config`]), for the AWS certificate stores
//! ([`crate::stores::aws`]) and SNS notifications ([`crate::notify::sns`]).

pub mod config;
pub mod sigv4;

pub use config::{AwsConfig, Service};
pub use sigv4::AwsCredentials;
