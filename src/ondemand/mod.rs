//! The on-demand engine: what the server does for a request or a job, below the HTTP layer.
//! It owns the rules every on-demand request goes through before it runs: costs against
//! limits ([`limits`]), and running a job's pass in a process of its own, where running out
//! of memory or a crash ends that job alone ([`isolated`]), what one client address may hold
//! at once ([`per_address`]), the byte-budgeted cache of transcodes and tiles ([`cache`]), the
//! grid spectrogram tiles are kept on and how they are drawn ([`tiles`]), transcodes
//! ([`transcode`]), and the memory requests hold while they run ([`memory`]).

pub mod cache;
pub mod isolated;
pub mod limits;
pub mod memory;
pub mod per_address;
pub mod tiles;
pub mod transcode;

pub use limits::{LimitError, Limits};

/// What one user may queue (admins are exempt); 0 in a field: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quotas {
    /// Jobs of one user pending or running at once (`jobs.max_pending_jobs_per_user`).
    pub max_pending_jobs: i64,
    /// Tasks one user may create in any minute (`jobs.max_tasks_per_minute`).
    pub max_tasks_per_minute: i64,
}

/// The rules a new task is admitted by: its cost on each item, and its author's quotas.
#[derive(Clone, Copy, Debug)]
pub struct TaskRules {
    pub limits: Limits,
    pub quotas: Quotas,
}
