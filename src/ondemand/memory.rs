//! The memory that requests hold while they run (decoded peaks windows, result conversions),
//! bounded all together (`server.request_memory_mb`): each request takes its estimate, in MiB,
//! before it starts, waits a while when others hold the budget, and is refused when it alone
//! needs more than the whole budget. What one user asks cannot grow the server past it.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const MIB: u64 = 1024 * 1024;

#[derive(Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    mib: u32,
}

/// Why a request could not have the memory it needs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refused {
    #[error(
        "{what} needs about {needs} MiB, more than all requests may hold at once ({budget} MiB, server.request_memory_mb)"
    )]
    TooLarge { what: String, needs: u64, budget: u32 },
    #[error("the server is busy with other large requests: try again shortly")]
    Busy,
}

impl MemoryBudget {
    pub fn new(mib: u32) -> MemoryBudget {
        let mib = mib.max(1);
        MemoryBudget { permits: Arc::new(Semaphore::new(mib as usize)), mib }
    }

    /// Holds `bytes` (an estimate) of the budget until the permit is dropped, waiting at most
    /// `wait` for others to give theirs back.
    pub async fn hold(&self, what: &str, bytes: u64, wait: Duration) -> Result<OwnedSemaphorePermit, Refused> {
        let needs = bytes.div_ceil(MIB).max(1);
        if needs > u64::from(self.mib) {
            return Err(Refused::TooLarge { what: what.to_string(), needs, budget: self.mib });
        }
        tokio::time::timeout(wait, self.permits.clone().acquire_many_owned(needs as u32))
            .await
            .map_err(|_| Refused::Busy)?
            .map_err(|_| Refused::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_share_the_budget_and_one_larger_than_it_is_refused() {
        let budget = MemoryBudget::new(10);
        let first = budget.hold("a", 6 * MIB, Duration::from_millis(10)).await.expect("fits");
        assert_eq!(budget.hold("b", 6 * MIB, Duration::from_millis(10)).await.err(), Some(Refused::Busy));
        drop(first);
        assert!(budget.hold("b", 6 * MIB, Duration::from_millis(10)).await.is_ok());
        let err = budget.hold("window", 11 * MIB, Duration::from_millis(10)).await.expect_err("too large");
        assert!(err.to_string().contains("server.request_memory_mb"), "{err}");
    }
}
