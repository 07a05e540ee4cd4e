//! Processing on demand: the job queue in the database ([`queue`]), the result cache keys
//! ([`cache`]) and the workers that run experiences on items ([`worker`]).

pub mod cache;
pub mod queue;
pub mod relay;
pub mod worker;

pub use worker::{WorkerConfig, Workers};
