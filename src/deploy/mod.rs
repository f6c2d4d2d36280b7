//! The deployment: which domains ([`select`]), pure per-domain decisions ([`decide`]), what is
//! deployed ([`target`]), the async driver that runs every domain within the budget
//! ([`engine`]), one domain's read → write → confirm flow (`domain`), the shared status sweeps that poll many domains at once ([`board`]) and the
//! batch writer that writes many at once ([`batch`]).

pub mod batch;
pub mod board;
pub mod decide;
mod domain;
pub mod engine;
pub mod learn;
pub mod select;
pub mod target;

pub use engine::{deploy_all, error_info, list_account, EngineConfig, Job};
pub use target::Target;
