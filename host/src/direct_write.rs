//! Data frames written without tungstenite: a large message whose bytes are
//! the socket's alone is masked where it lies and written with its header in
//! one vectored write (RFC 6455 §5.2, §5.3).
//!
//! Owns the frame format for that one path; everything else (control frames,
//! small messages, reading) goes through tungstenite, and this writes only
//! after tungstenite's own buffer is flushed, so frames keep their order.

use bytes::{Buf, BytesMut};
use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::{
    self, Bytes, Message as WireMessage,
    protocol::frame::FrameHeader,
    protocol::frame::coding::{Data as OpData, OpCode},
};

use crate::handshake::Stream;

/// A data message larger than this whose bytes are the socket's alone is
/// written by [`write_masked`], not through tungstenite: beyond it, copying
/// the message into tungstenite's write buffer costs more than the write
/// call of its own it then needs (64 KiB messages: CPU per MiB 1.9x native
/// through tungstenite, 1.1-1.3x so).
const DIRECT_WRITE_BYTES: usize = 16 << 10;

/// A large text or binary message whose bytes nothing else holds (what a
/// guest's `send-binary` or `send` lifted), as the opcode and bytes
/// [`write_masked`] writes; any other message as it was.
pub(crate) fn large_and_ours(message: WireMessage) -> Result<(OpData, BytesMut), WireMessage> {
    let ours = match &message {
        WireMessage::Binary(bytes) => bytes.len() > DIRECT_WRITE_BYTES && bytes.is_unique(),
        WireMessage::Text(text) => {
            text.len() > DIRECT_WRITE_BYTES && AsRef::<Bytes>::as_ref(text).is_unique()
        }
        _ => false,
    };
    let (opcode, bytes) = match message {
        WireMessage::Binary(bytes) if ours => (OpData::Binary, bytes),
        WireMessage::Text(text) if ours => (OpData::Text, Bytes::from(text)),
        other => return Err(other),
    };
    // Unique, so this takes the buffer over rather than copying it.
    Ok((opcode, BytesMut::from(bytes)))
}

/// Writes one data frame straight to the transport: the header, then the
/// payload masked where it lies, in one vectored write. tungstenite would
/// copy the payload into its write buffer and mask it there: a second pass
/// over the bytes, and a buffer the size of the largest message ever sent,
/// kept for the connection's life. What tungstenite has buffered (a pong it
/// owes, earlier messages of the burst) is flushed first, so frames keep
/// their order.
pub(crate) async fn write_masked(
    stream: &mut Stream,
    opcode: OpData,
    mut payload: BytesMut,
) -> Result<(), tungstenite::Error> {
    stream.flush().await?;
    let key: [u8; 4] = rand::random();
    let header = FrameHeader {
        opcode: OpCode::Data(opcode),
        mask: Some(key),
        ..FrameHeader::default()
    };
    let mut head = Vec::with_capacity(14); // the largest header
    header.format(payload.len() as u64, &mut head)?;
    mask_in_place(&mut payload, key);
    let mut frame = head.as_slice().chain(&payload[..]);
    stream.get_mut().write_all_buf(&mut frame).await?;
    Ok(())
}

/// RFC 6455 §5.3 masking, eight bytes at a time.
fn mask_in_place(payload: &mut [u8], key: [u8; 4]) {
    let [a, b, c, d] = key;
    let word = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let masked = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so of 4: the key starts over.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::net::TcpStream;
    use tokio_tungstenite::MaybeTlsStream;

    use super::*;
    use crate::compression;
    use crate::read_ahead::ReadAhead;

    #[test]
    fn masking_in_place_is_rfc_6455_masking() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..=19 {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 + 5) as u8).collect();
            let mut masked = plain.clone();
            mask_in_place(&mut masked, key);
            let expected: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            assert_eq!(masked, expected, "{len} bytes");
        }
    }

    #[test]
    fn only_large_messages_no_one_else_holds_are_written_directly() {
        let large = vec![7u8; DIRECT_WRITE_BYTES + 1];
        assert!(large_and_ours(WireMessage::binary(large.clone())).is_ok());
        let text = String::from_utf8(vec![b'a'; DIRECT_WRITE_BYTES + 1]).unwrap();
        assert!(matches!(
            large_and_ours(WireMessage::text(text)),
            Ok((OpData::Text, _))
        ));
        assert!(large_and_ours(WireMessage::binary(vec![7u8; DIRECT_WRITE_BYTES])).is_err());
        // A slice of a shared buffer (send-messages) is not the socket's to mask.
        let shared = Bytes::from(large);
        let kept = shared.clone();
        assert_eq!(
            large_and_ours(WireMessage::Binary(shared)).unwrap_err(),
            WireMessage::Binary(kept)
        );
    }

    #[tokio::test]
    async fn a_large_message_written_directly_reaches_a_server_whole_and_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            // A server unmasks, and fails a frame that is not masked.
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut received = Vec::new();
            for _ in 0..3 {
                received.push(ws.next().await.unwrap().unwrap());
            }
            received
        });
        let tcp = TcpStream::connect(address).await.unwrap();
        let transport = compression::wrap(MaybeTlsStream::Plain(ReadAhead::new(tcp)));
        let (mut stream, _) =
            tokio_tungstenite::client_async(format!("ws://{address}/"), transport)
                .await
                .unwrap();
        // Buffered in tungstenite, not yet written: it must still go first.
        stream.feed(WireMessage::text("before")).await.unwrap();
        let large: Vec<u8> = (0..(1 << 20) + 3)
            .map(|i| (i * 7 + i / 256) as u8)
            .collect();
        let (opcode, payload) = large_and_ours(WireMessage::binary(large.clone())).unwrap();
        write_masked(&mut stream, opcode, payload).await.unwrap();
        stream.send(WireMessage::text("after")).await.unwrap();
        let received = server.await.unwrap();
        assert!(
            received[1] == WireMessage::binary(large),
            "the large message differs"
        );
        assert_eq!(received[0], WireMessage::text("before"));
        assert_eq!(received[2], WireMessage::text("after"));
    }
}
