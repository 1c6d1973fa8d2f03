// wit-types.js: JavaScript values to and from the WIT types the host takes
// and gives: connect-options (their defaults are here and nowhere else),
// messages, UTF-8 bytes, error codes. No host calls; no state but
// encodeUtf8's reused buffer.

import { toDOMString } from './webidl.js';

/** The UTF-8 encoder every sender shares. */
export const utf8 = new TextEncoder();

// UTF-8's most bytes for one UTF-16 code unit (a lone surrogate, or any
// unit from U+0800; a pair takes 4 for its two).
export const MAX_UTF8_PER_UNIT = 3;
// Buffers reused from one message (or batch) to the next are kept up to
// this size; a larger one is dropped after its use.
export const KEPT_BUFFER_BYTES = 256 << 10;
// encodeUtf8's buffer.
let encoded = new Uint8Array(0);

// The WIT connect-options a browser's constructor can express: the
// subprotocols; the host's defaults for the rest.
export function connectOptions(protocols) {
  return {
    protocols,
    headers: [],
    connectTimeoutMs: undefined,
    keepaliveIntervalMs: undefined,
    compression: undefined,
  };
}

// send()'s argument as a WIT `message`: ArrayBuffer or a view's bytes as
// binary, anything else converted to a string (with lone surrogates replaced,
// as USVString does) as text.
export function toMessage(data) {
  if (data instanceof ArrayBuffer) return { tag: 'binary', val: new Uint8Array(data) };
  if (ArrayBuffer.isView(data)) {
    return { tag: 'binary', val: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
  return { tag: 'text', val: toDOMString(data).toWellFormed() };
}

// A WebSocketStream chunk (or a Turbulenz send) as a WIT binary `message`,
// or null for a string (sent as UTF-8 bytes).
export function messageOf(chunk) {
  if (typeof chunk === 'string') return null; // sent as UTF-8 bytes
  if (chunk instanceof ArrayBuffer) return { tag: 'binary', val: new Uint8Array(chunk) };
  if (ArrayBuffer.isView(chunk)) {
    return { tag: 'binary', val: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) };
  }
  throw new TypeError('WebSocketStream: a chunk must be a string, an ArrayBuffer or an ArrayBufferView');
}

// A string's UTF-8 bytes (lone surrogates as U+FFFD, as USVString has them),
// for a call that copies them at once: encoded into a buffer kept for that.
// StarlingMonkey's TextEncoder.encode() takes 7.6 µs for 4 KiB (86 for 64
// KiB), where encodeInto takes 0.8 (9); componentize-js lowers a `string`
// through a per-character loop (12 ms for 64 KiB).
export function encodeUtf8(text) {
  const room = MAX_UTF8_PER_UNIT * text.length;
  let into = encoded;
  if (room > into.byteLength) {
    into = new Uint8Array(Math.max(room, 4096));
    // A buffer for a large text is not kept for the next.
    if (room <= KEPT_BUFFER_BYTES) encoded = into;
  }
  return into.subarray(0, utf8.encodeInto(text, into).written);
}

// A WIT message's size in bytes (text as UTF-8).
export function byteLength(message) {
  return message.tag === 'text' ? encodeUtf8(message.val).byteLength : message.val.byteLength;
}

// Received bytes as an ArrayBuffer of their own: the bindings' whole buffer
// as it is, else sliced from it (the buffer's slice, 0.4 µs, where a view's
// slice() takes 1.1 in the interpreter).
export function toArrayBuffer(bytes) {
  const start = bytes.byteOffset;
  const buffer = bytes.buffer;
  return start === 0 && bytes.byteLength === buffer.byteLength
    ? buffer
    : buffer.slice(start, start + bytes.byteLength);
}

// A WIT function returning `result<_, error-code>` throws a ComponentError
// whose `payload` is the error-code; anything else thrown is a bug.
export function errorCodeOf(thrown) {
  if (thrown?.payload?.tag === undefined) throw thrown;
  return thrown.payload;
}

export function describeErrorCode({ tag, val }) {
  if (val === undefined) return tag;
  if (typeof val === 'object') return `${tag}: ${val.status} ${val.message}`; // handshake-rejected
  return `${tag}: ${val}`;
}
