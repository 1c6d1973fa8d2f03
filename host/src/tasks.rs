//! The registry of a guest's socket tasks: every socket's I/O runs as a
//! tokio task tracked here, so a host can wait for closing handshakes to
//! finish, and a task's panic (a host bug) is counted and reported to the
//! guest instead of leaving a socket that never ends.
//!
//! Owns spawning and panic handling only; what a task does is
//! [`crate::socket_task`]'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_util::task::TaskTracker;

use crate::bindings::{CloseInfo, ErrorCode};
use crate::dns::Lookups;
use crate::errors::ABNORMAL_CLOSURE;
use crate::event::Pending;
use crate::queue::EventQueue;
use crate::socket_state::SocketShared;

/// The I/O tasks of a guest's sockets, how many of them panicked, and their
/// DNS lookups.
#[derive(Clone)]
pub(crate) struct SocketTasks {
    pub(crate) tracker: TaskTracker,
    pub(crate) panics: Arc<AtomicUsize>,
    /// The guest's DNS lookups, which its sockets share.
    pub(crate) lookups: Lookups,
}

impl SocketTasks {
    pub(crate) fn new(lookups: Lookups) -> Self {
        Self {
            tracker: TaskTracker::new(),
            panics: Arc::default(),
            lookups,
        }
    }

    /// Runs `task`, the I/O of `socket`, which reports to `queue`. A panic
    /// in it is a host bug: the guest is told (an `io` error, then close
    /// 1006) rather than left with a socket that never ends, and the panic
    /// is counted, so that harnesses fail loudly.
    pub(crate) fn spawn(
        &self,
        socket: Arc<SocketShared>,
        queue: Arc<EventQueue>,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let panics = self.panics.clone();
        let task = std::panic::AssertUnwindSafe(task);
        self.tracker.spawn(async move {
            let Err(panic) = futures_util::FutureExt::catch_unwind(task).await else {
                return;
            };
            panics.fetch_add(1, Ordering::AcqRel);
            tracing::error!(
                socket = socket.id(),
                "the socket's task panicked (a host bug)"
            );
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let error = ErrorCode::Io(format!("host bug: the socket's task panicked: {what}"));
            queue.push(&socket, Pending::Error(error));
            let info = CloseInfo {
                code: ABNORMAL_CLOSURE,
                reason: String::new(),
                was_clean: false,
            };
            queue.push(&socket, Pending::Close(info));
        });
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::Notify;

    use super::*;
    use crate::config::WebSocketConfig;

    #[tokio::test]
    async fn a_panicking_socket_task_is_counted_and_fails_the_socket() {
        let queue = Arc::new(EventQueue::new(Arc::new(Notify::new())));
        let socket = Arc::new(SocketShared::new(
            7,
            &WebSocketConfig::default(),
            queue.live_sockets.clone(),
        ));
        let tasks = SocketTasks::new(Lookups::new(Arc::new(crate::dns::SystemResolver), 1));
        tasks.spawn(socket, queue.clone(), async { panic!("a test's panic") });
        tasks.tracker.close();
        tasks.tracker.wait().await;
        assert_eq!(tasks.panics.load(Ordering::Acquire), 1);
        let events: Vec<Pending> = queue.take_batch().into_iter().map(|e| e.kind).collect();
        match &events[..] {
            [Pending::Error(ErrorCode::Io(message)), Pending::Close(info)] => {
                assert!(message.contains("panicked: a test's panic"), "{message}");
                assert_eq!((info.code, info.was_clean), (1006, false));
            }
            other => panic!("{other:?}"),
        }
    }
}
