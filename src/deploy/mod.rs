//! The deployment: which domains ([`select`]), what is deployed ([`target`]), what a write must
//! keep ([`settings`], pure), per-domain decisions ([`decide`], pure), what the run has proved of
//! each kind of write ([`proof`]), the job and the engine's tuning ([`job`]), how a domain ended
//! ([`outcome`]), calling the API within the budget ([`calls`]), the async driver that runs every
//! domain within the budget ([`engine`]), one domain's state machine ([`machine`], pure; after the
//! write, [`confirm`]) and the flow that carries it out (`domain`), the shared sweeps that read and
//! poll many domains at once ([`board`]) and the batch writer that writes many at once
//! ([`batch`]).

pub mod batch;
pub mod board;
pub mod calls;
pub mod confirm;
pub mod decide;
mod domain;
pub mod engine;
pub mod job;
pub mod machine;
pub mod outcome;
pub mod proof;
pub mod select;
pub mod settings;
pub mod target;

pub use calls::list_account;
pub use engine::deploy_all;
pub use job::{EngineConfig, Incoming, Job};
pub use outcome::error_info;
pub use target::Target;
