//! Huawei Cloud: request signing ([`sign`], pure), access keys ([`credential`]), per-API pacing
//! under the documented quotas ([`quota`]), the CDN API's bodies ([`model`]) and errors
//! ([`error`]), and the CDN API client that signs, paces, sends and decodes ([`cdn`]).

pub mod cdn;
pub mod credential;
pub mod error;
pub mod model;
pub mod quota;
pub mod sign;
