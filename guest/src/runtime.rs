//! A small async runtime over `wasi:io/poll`: [`block_on`] runs a future to
//! completion, blocking in one `poll` on every pollable its futures wait on;
//! [`sleep`] and [`timeout`] are made of the monotonic clock.
//!
//! It is the reactor model of `wstd` and of wasi-http guests: a future that
//! cannot go on registers a pollable and its waker; when nothing else can
//! run, the executor polls all registered pollables at once and wakes the
//! futures whose pollables are ready.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::wasi::io::poll::{self, Pollable};

/// Pollables that futures wait on, each with the waker to call when ready.
#[derive(Default)]
struct Reactor {
    waiting: Vec<(Rc<Pollable>, Waker)>,
}

thread_local! {
    static REACTOR: RefCell<Reactor> = RefCell::new(Reactor::default());
}

/// Wakes the current task when `pollable` is ready (once). Futures call this
/// when they return `Poll::Pending` for want of `pollable`.
pub(crate) fn register(pollable: &Rc<Pollable>, waker: &Waker) {
    REACTOR.with(|reactor| {
        let mut reactor = reactor.borrow_mut();
        match reactor
            .waiting
            .iter_mut()
            .find(|(waiting, _)| Rc::ptr_eq(waiting, pollable))
        {
            Some((_, registered)) => registered.clone_from(waker),
            None => reactor.waiting.push((pollable.clone(), waker.clone())),
        }
    });
}

/// Blocks until at least one registered pollable is ready and wakes its
/// futures. False when nothing is registered (no future can make progress).
fn wait_for_pollables() -> bool {
    REACTOR.with(|reactor| {
        let mut reactor = reactor.borrow_mut();
        // A pollable only the reactor still holds belongs to a dropped future.
        reactor
            .waiting
            .retain(|(pollable, _)| Rc::strong_count(pollable) > 1);
        if reactor.waiting.is_empty() {
            return false;
        }
        let list: Vec<&Pollable> = reactor.waiting.iter().map(|(p, _)| &**p).collect();
        let mut ready = poll::poll(&list);
        drop(list);
        // Removed from the highest index down, so the others stay in place.
        ready.sort_unstable_by(|a, b| b.cmp(a));
        let woken: Vec<Waker> = ready
            .into_iter()
            .map(|index| reactor.waiting.swap_remove(index as usize).1)
            .collect();
        drop(reactor);
        woken.into_iter().for_each(Waker::wake);
        true
    })
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to completion on this thread and returns its output:
/// the SDK's executor, for `main` or any code that may block.
///
/// ```no_run
/// use std::time::Duration;
/// wit_websocket_guest::export_handler!();
///
/// fn main() {
///     wit_websocket_guest::block_on(async {
///         wit_websocket_guest::sleep(Duration::from_millis(10)).await;
///     });
/// }
/// ```
///
/// # Panics
///
/// When the future is pending and waits on nothing this runtime can wake
/// (no pollable registered, not woken): it could never finish.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if flag.0.swap(false, Ordering::AcqRel)
            && let Poll::Ready(output) = future.as_mut().poll(&mut cx)
        {
            return output;
        }
        if flag.0.load(Ordering::Acquire) {
            continue;
        }
        assert!(
            wait_for_pollables(),
            "block_on: the future waits on nothing that could wake it"
        );
    }
}

/// A future ready when `pollable` is.
pub(crate) struct PollableReady(pub(crate) Rc<Pollable>);

impl Future for PollableReady {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.ready() {
            Poll::Ready(())
        } else {
            register(&self.0, cx.waker());
            Poll::Pending
        }
    }
}

/// Waits until `pollable` is ready (any `wasi:io/poll.pollable`: a stream's,
/// a socket's, a clock's).
pub async fn wait_for(pollable: Pollable) {
    PollableReady(Rc::new(pollable)).await
}

/// Waits for `duration`, as `tokio::time::sleep`.
pub async fn sleep(duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    wait_for(monotonic_clock::subscribe_duration(nanos)).await
}

/// The error of [`timeout`]: the time ran out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`, as `tokio::time::timeout`.
///
/// ```no_run
/// # async fn example() {
/// use std::time::Duration;
/// use wit_websocket_guest::{sleep, timeout};
/// let result = timeout(Duration::from_millis(10), sleep(Duration::from_secs(1))).await;
/// assert!(result.is_err());
/// # }
/// ```
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut deadline = pin!(sleep(duration));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        deadline.as_mut().poll(cx).map(|()| Err(Elapsed))
    })
    .await
}
