//! The deployment: which domains ([`select`]), pure per-domain decisions ([`decide`]), what is
//! deployed ([`target`]), and the async driver that runs every domain within the budget
//! ([`engine`]).

pub mod decide;
pub mod engine;
pub mod select;
pub mod target;

pub use engine::{deploy_all, error_info, list_account, EngineConfig, Job};
pub use target::Target;
