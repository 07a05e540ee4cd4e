//! The on-demand engine: what the server does for a request or a job, below the HTTP layer.
//! It owns the rules every on-demand request goes through before it runs: costs against
//! limits ([`limits`]), and running a job's pass in a process of its own, where running out
//! of memory or a crash ends that job alone ([`isolated`]), and what one client address may
//! hold at once ([`per_address`]).

pub mod isolated;
pub mod limits;
pub mod per_address;

pub use limits::{LimitError, Limits};
