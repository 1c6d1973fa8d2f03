//! What the host's heap holds for a guest that does not read while a server
//! floods it: the queue's limit, whether the messages are copied out of
//! tungstenite's read buffer (up to 16 KiB) or kept in it (larger), not what
//! the server sends.
//!
//! A test binary of its own: its allocator counts every live heap byte of
//! the process, which other tests running beside it would disturb.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wit_websocket_host::WebSocketConfig;

use support::{Journal, ServerSocket, allow_all, probe_with, serve};

/// The system allocator, counting the bytes it has out.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to the system allocator as it came; only the
// count is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const QUEUE_LIMIT: usize = 4 << 20;

/// Floods a guest that holds still (the probe's `hold`) with `size`-byte
/// messages and returns how many bytes the heap grew by while the queue was
/// full, and how many the server sent.
async fn held_while_flooded(size: usize) -> (isize, usize) {
    let server = serve(move |mut ws: ServerSocket, journal: Journal| async move {
        // The guest has connected and is holding: the test notes the heap.
        journal.record("ready");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let chunk = vec![7u8; size];
        let mut sent = 0usize;
        let flood = async {
            while ws.send(Message::Binary(chunk.clone().into())).await.is_ok() {
                sent += size;
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(700), flood).await;
        journal.record(format!("flooded {sent}"));
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let config = WebSocketConfig {
        max_queued_bytes: QUEUE_LIMIT as u64,
        ..allow_all()
    };
    let url = server.url();
    let guest = tokio::spawn(async move { probe_with("hold", &[&url, "2500"], config).await });
    server.journal.wait_for("ready").await;
    let before = live_bytes();
    let flooded = server.journal.wait_for("flooded ").await;
    let held = live_bytes() - before;
    let run = guest.await.unwrap();
    assert_eq!(run.line("closed"), "closed", "{:#?}", run.stdout);
    let received: usize = run.line("received-after-hold=")["received-after-hold=".len()..]
        .parse()
        .unwrap();
    // The queue filled (it counts some bytes per message besides payloads).
    assert!(received >= QUEUE_LIMIT / 16 * 15, "{received}");
    (held, flooded["flooded ".len()..].parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_guest_that_does_not_read_costs_the_host_about_its_queue_limit() {
    // Larger than the 16 KiB read buffer: each kept in the buffer
    // tungstenite read it into. Smaller: copied out of a shared one.
    for size in [20 << 10, 4 << 10] {
        let (held, flooded) = held_while_flooded(size).await;
        println!(
            "{size}-byte messages: the server sent {} MiB; the host's heap grew {} KiB \
             with the guest's {} KiB queue full",
            flooded >> 20,
            held >> 10,
            QUEUE_LIMIT >> 10
        );
        // The queue's own limit, at most as much again for the buffers the
        // kept messages arrived in, and 2 MiB for the rest (read-ahead,
        // tungstenite's buffers, the server's side of the test).
        let bound = 2 * QUEUE_LIMIT as isize + (2 << 20);
        assert!(
            held <= bound,
            "{size}-byte messages: the heap grew {held} bytes, over {bound}"
        );
        assert!(
            held >= QUEUE_LIMIT as isize / 2,
            "{size}-byte messages: the heap grew only {held} bytes: was the queue filled?"
        );
    }
}
