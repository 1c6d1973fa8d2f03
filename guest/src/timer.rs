//! Timers for push-mode apps: [`set_timeout`] and [`set_interval`], run by
//! the host's event loop as a browser runs `setTimeout` callbacks.
//!
//! The SDK keeps every timer in one queue, ordered by deadline and then by
//! the order they were set (the browser's rule), and asks the host to wake it
//! (`network-device.watch` of a monotonic-clock pollable) for the earliest
//! one only. The host calls `watch-handler.on-ready` between other callbacks.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::wit_websocket::client::network as wit;

/// A timer set by [`set_timeout`] or [`set_interval`], for [`clear_timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

type TimerCallback = Box<dyn FnMut()>;

struct Timer {
    callback: TimerCallback,
    /// Set for intervals: the timer is set again this far after it ran.
    every: Option<Duration>,
}

/// The pending timers and the one host watch that stands for them.
#[derive(Default)]
struct Timers {
    next_id: u64,
    /// Deadline (monotonic ns) and id → timer: earliest deadline first, then
    /// the order set.
    queue: BTreeMap<(u64, u64), Timer>,
    /// Each pending timer's deadline, by id, to find it in `queue`.
    deadlines: HashMap<u64, u64>,
    /// The device the watch is made on (created on first use) and the watch
    /// with its deadline.
    device: Option<wit::NetworkDevice>,
    watch: Option<(u64, u64)>,
    /// The timer whose callback is running, and whether it was cleared
    /// meanwhile (an interval then is not set again).
    running: Option<(u64, bool)>,
}

thread_local! {
    static TIMERS: RefCell<Timers> = RefCell::new(Timers::default());
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Timers {
    fn insert(&mut self, deadline: u64, id: u64, timer: Timer) {
        self.queue.insert((deadline, id), timer);
        self.deadlines.insert(id, deadline);
    }

    /// Makes the host watch stand for the earliest deadline.
    fn arm(&mut self) {
        let earliest = self.queue.keys().next().map(|&(deadline, _)| deadline);
        let device = self.device.get_or_insert_with(wit::NetworkDevice::new);
        match (earliest, self.watch) {
            (Some(deadline), Some((_, armed))) if armed <= deadline => {}
            (None, None) => {}
            (earliest, watch) => {
                if let Some((watch, _)) = watch {
                    device.unwatch(watch);
                }
                self.watch = earliest.and_then(|deadline| {
                    let wait = deadline.saturating_sub(monotonic_clock::now());
                    let pollable = monotonic_clock::subscribe_duration(wait);
                    // Refused only past the host's watch limit: the timers
                    // then wait for the next one to be set or to fire.
                    device.watch(pollable).ok().map(|watch| (watch, deadline))
                });
            }
        }
    }
}

fn schedule(delay: Duration, every: Option<Duration>, callback: TimerCallback) -> TimerId {
    TIMERS.with(|timers| {
        let mut timers = timers.borrow_mut();
        timers.next_id += 1;
        let id = timers.next_id;
        let deadline = monotonic_clock::now().saturating_add(nanos(delay));
        timers.insert(deadline, id, Timer { callback, every });
        timers.arm();
        TimerId(id)
    })
}

/// Calls `callback` once, `delay` from now, as the browser's `setTimeout`:
/// from the host's event loop, between other callbacks, in push mode (after
/// `main` returns, or while an app in its own loop does not hold the guest).
/// A pending timer keeps the app running. Timers due together run earliest
/// deadline first, then in the order they were set.
///
/// ```no_run
/// use std::time::Duration;
/// wit_websocket_guest::export_handler!();
///
/// fn main() {
///     wit_websocket_guest::set_timeout(Duration::from_millis(50), || println!("50 ms later"));
/// }
/// ```
pub fn set_timeout(delay: Duration, callback: impl FnOnce() + 'static) -> TimerId {
    let mut callback = Some(callback);
    schedule(
        delay,
        None,
        Box::new(move || {
            if let Some(callback) = callback.take() {
                callback();
            }
        }),
    )
}

/// Calls `callback` every `period` until [`clear_timer`], as the browser's
/// `setInterval`; see [`set_timeout`]. A period of zero runs it on every
/// turn of the event loop.
pub fn set_interval(period: Duration, callback: impl FnMut() + 'static) -> TimerId {
    schedule(period, Some(period), Box::new(callback))
}

/// Cancels a timer (also from inside its own callback); does nothing when it
/// has already run or been cleared.
pub fn clear_timer(timer: TimerId) {
    TIMERS.with(|timers| {
        let mut timers = timers.borrow_mut();
        if let Some(deadline) = timers.deadlines.remove(&timer.0) {
            timers.queue.remove(&(deadline, timer.0));
            timers.arm();
        } else if let Some((running, cleared)) = &mut timers.running
            && *running == timer.0
        {
            *cleared = true;
        }
    });
}

/// The host's `watch-handler.on-ready`: runs the timers that are due, if
/// `watch` is the timers' watch. True when it was.
pub(crate) fn on_ready(watch: u64) -> bool {
    let ours = TIMERS.with(|timers| {
        let mut timers = timers.borrow_mut();
        match timers.watch {
            Some((armed, _)) if armed == watch => {
                timers.watch = None;
                true
            }
            _ => false,
        }
    });
    if !ours {
        return false;
    }
    let now = monotonic_clock::now();
    loop {
        // Taken out while it runs, so the callback may set or clear timers.
        let due = TIMERS.with(|timers| {
            let mut timers = timers.borrow_mut();
            let key = *timers
                .queue
                .keys()
                .next()
                .filter(|(deadline, _)| *deadline <= now)?;
            let timer = timers.queue.remove(&key)?;
            timers.deadlines.remove(&key.1);
            timers.running = Some((key.1, false));
            Some((key.1, timer))
        });
        let Some((id, mut timer)) = due else { break };
        (timer.callback)();
        TIMERS.with(|timers| {
            let mut timers = timers.borrow_mut();
            let cleared = matches!(timers.running.take(), Some((_, true)));
            if let Some(every) = timer.every
                && !cleared
            {
                let deadline = monotonic_clock::now().saturating_add(nanos(every));
                timers.insert(deadline, id, timer);
            }
        });
    }
    TIMERS.with(|timers| timers.borrow_mut().arm());
    true
}
