//! The deployment: pure decisions ([`decide`]), what is deployed ([`target`]), and the async
//! driver that runs every domain within the budget ([`engine`]).

pub mod decide;
pub mod engine;
pub mod target;

pub use engine::{deploy_all, EngineConfig, Job};
pub use target::Target;
