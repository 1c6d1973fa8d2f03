//! Larger reads from the connection than tungstenite asks for, while data
//! streams in.
//!
//! tungstenite reads at most its read-buffer size at a time, and zero-fills
//! that much of its buffer first, so the size is what every connection that
//! reads keeps resident: the host sets it to 16 KiB to keep 10,000 sockets
//! small. A 1 MiB message then takes 64 reads through tungstenite, tokio and
//! the kernel. [`ReadAhead`] reads in larger pieces only while a read fills
//! what tungstenite asked for (more is waiting), into a buffer it frees as
//! soon as the connection has nothing more to read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::poll_read_buf;

/// How much one read takes while data streams in: tungstenite's own default.
pub(crate) const READ_AHEAD_BYTES: usize = 128 << 10;

/// A transport that reads ahead while data streams in (see the module's
/// documentation); writes pass straight through.
pub(crate) struct ReadAhead<S> {
    inner: S,
    /// Bytes read and not yet passed on. Nothing is allocated unless
    /// streaming; while streaming its room is read into as it is, not
    /// zero-filled first (each burst of small messages zero-filled 128 KiB:
    /// part of the 1-2% `memset` took of a pipelined 4 KiB echo's CPU).
    buffer: BytesMut,
    /// The last read filled what it was given: more is likely waiting.
    streaming: bool,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            buffer: BytesMut::new(),
            streaming: false,
        }
    }

    /// Bytes read ahead and not yet passed on (for the tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buffer.len()
    }

    /// Room allocated for reading ahead (for the memory tests).
    #[cfg(test)]
    fn allocated(&self) -> usize {
        self.buffer.capacity()
    }

    fn stop_streaming(&mut self) {
        self.streaming = false;
        self.buffer = BytesMut::new();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buffer.is_empty() && this.streaming {
            // All of it again: what was passed on is reclaimed, not reallocated.
            this.buffer.reserve(READ_AHEAD_BYTES);
            match poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buffer) {
                Poll::Ready(Ok(read)) if read > 0 => {}
                // The end of the stream, an error, or nothing waiting: the
                // stream ran dry, and the buffer goes.
                other => {
                    this.stop_streaming();
                    return other.map_ok(drop);
                }
            }
        }
        if !this.buffer.is_empty() {
            let n = this.buffer.len().min(buf.remaining());
            buf.put_slice(&this.buffer[..n]);
            this.buffer.advance(n);
            return Poll::Ready(Ok(()));
        }
        let wanted = buf.remaining();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.streaming = wanted > 0 && buf.filled().len() - before == wanted;
        Poll::Ready(Ok(()))
    }
}

writes_pass_through!(ReadAhead);

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads with tungstenite's read size, as the socket task does.
    const ASKED: usize = 16 << 10;

    #[tokio::test]
    async fn small_reads_take_nothing_ahead() {
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        let mut reader = ReadAhead::new(ours);
        let mut buf = vec![0; ASKED];
        for round in 0..3u8 {
            peer.write_all(&[round; 100]).await.unwrap();
            assert_eq!(reader.read(&mut buf).await.unwrap(), 100);
            assert_eq!(&buf[..100], &[round; 100]);
            assert_eq!(reader.allocated(), 0);
        }
    }

    #[tokio::test]
    async fn a_stream_is_read_ahead_whole_and_the_buffer_goes_when_it_runs_dry() {
        let (mut peer, ours) = tokio::io::duplex(4 << 20);
        let mut reader = ReadAhead::new(ours);
        let sent: Vec<u8> = (0..(3 << 20) + 77).map(|i| (i % 251) as u8).collect();
        peer.write_all(&sent).await.unwrap();
        let mut received = Vec::new();
        let mut buf = vec![0; ASKED];
        let (mut held_most, mut allocated_most) = (0, 0);
        while received.len() < sent.len() {
            let n = reader.read(&mut buf).await.unwrap();
            received.extend_from_slice(&buf[..n]);
            held_most = held_most.max(reader.held());
            allocated_most = allocated_most.max(reader.allocated());
        }
        assert_eq!(received, sent);
        // 128 KiB in one read, of which one read's worth was passed on.
        assert_eq!(held_most, READ_AHEAD_BYTES - ASKED, "it read ahead");
        assert!(
            allocated_most <= READ_AHEAD_BYTES,
            "it allocated {allocated_most} bytes"
        );
        // Nothing more is waiting: the read is pending and the buffer freed.
        assert!(reader.read(&mut buf).now_or_never().is_none());
        assert_eq!(reader.allocated(), 0);
        // The end of the stream still reads as the end, then nothing is held.
        peer.write_all(&sent[..ASKED]).await.unwrap();
        drop(peer);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, &sent[..ASKED]);
        assert_eq!(reader.allocated(), 0);
    }
}
