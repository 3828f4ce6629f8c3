//! Runs async calls (network HSMs) from the synchronous [`crate::SealingBackend`] methods.

use std::future::Future;
use std::time::Duration;

use crate::HsmError;

/// Runs `call` to completion on a thread of its own with a runtime of its own, so it works
/// whether or not the caller is inside a runtime, and gives up after `timeout`. HSMs are only
/// called at boot, on rewrap and on HSM changes, so the cost of a thread does not matter.
pub(crate) fn block_on<F>(timeout: Duration, call: F) -> Result<F::Output, HsmError>
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| HsmError::Unavailable(format!("cannot start a runtime: {e}")))?;
                rt.block_on(async { tokio::time::timeout(timeout, call).await })
                    .map_err(|_| {
                        HsmError::Unavailable(format!("no answer in {} s", timeout.as_secs()))
                    })
            })
            .join()
            .unwrap_or_else(|_| Err(HsmError::Unavailable("HSM call panicked".into())))
    })
}
