//! Waiting for a condition that a [`Notify`] guards, without missing a
//! wake-up: the one way host tasks and pollables wait on shared state.

use tokio::sync::Notify;

/// Waits until `condition` holds, re-checking it whenever `notify` wakes.
pub(crate) async fn wait_until(notify: &Notify, mut condition: impl FnMut() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a wake-up in between is not lost.
        notified.as_mut().enable();
        if condition() {
            return;
        }
        notified.await;
    }
}
