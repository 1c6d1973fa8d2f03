// The WebSocketStream API (WHATWG explainer,
// https://github.com/whatwg/websockets/blob/main/explainer.md) and the
// Turbulenz `NetworkDevice` for componentize-js components.
//
// Both take their socket's events only when they want them: each has a
// device of its own whose events the host does not push (`set-push(false)`)
// and that it reads with `take-packed` and `update`, waking on the device's
// pollable through the host's event loop (`watch`). A WebSocketStream reader that stops reading
// leaves the events with the host, which then stops reading the connection
// (TCP pushes back on the server); a writer's `ready` waits until the
// socket's buffered bytes fall to the low-water mark.

import { NetworkDevice as Device } from 'wit-websocket:client/network@0.1.6';
import { watch } from './event-loop.js';
import {
  checkClose,
  connectOptions,
  describeErrorCode,
  encodeUtf8,
  errorCodeOf,
  parseProtocols,
  parseURL,
  toArrayBuffer,
} from './websocket.js';

/** Bytes buffered above which a WebSocketStream writer waits: 1 MiB. */
export const HIGH_WATER_MARK = 1 << 20;
/** Bytes buffered a waiting writer waits for: 256 KiB. */
export const LOW_WATER_MARK = 256 << 10;

const fromUtf8 = new TextDecoder();

// A device whose events the host leaves for `update` (never pushed).
function pulledDevice() {
  const device = new Device();
  device.setPush(false);
  return device;
}

function messageOf(chunk) {
  if (typeof chunk === 'string') return null; // sent as UTF-8 bytes
  if (chunk instanceof ArrayBuffer) return { tag: 'binary', val: new Uint8Array(chunk) };
  if (ArrayBuffer.isView(chunk)) {
    return { tag: 'binary', val: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) };
  }
  throw new TypeError('WebSocketStream: a chunk must be a string, an ArrayBuffer or an ArrayBufferView');
}

/** The error `closed` rejects with (the explainer's `WebSocketError`). */
export class WebSocketError extends DOMException {
  #closeCode;
  #reason;

  constructor(message = '', { closeCode = null, reason = '' } = {}) {
    super(message, 'WebSocketError');
    this.#closeCode = closeCode;
    this.#reason = reason;
  }

  get closeCode() { return this.#closeCode; }
  get reason() { return this.#reason; }
}

/** A WebSocket as a pair of streams, with backpressure both ways. */
export class WebSocketStream {
  #url;
  #device = null;
  #socket = null;
  #opened;
  #closed;
  #settleOpened;
  #settleClosed;
  #state = 'connecting'; // 'open', 'closing', 'closed'
  #readable = null;
  #reader = null; // the readable's controller
  #wantRead = false;
  #pullDone = null; // resolves the readable's pending pull
  #cancelWatch = null;
  #failure = null;

  constructor(url, options = {}) {
    if (arguments.length === 0) throw new TypeError('WebSocketStream constructor: At least 1 argument required');
    this.#url = parseURL(String(url).toWellFormed()).href;
    const protocols = parseProtocols(options?.protocols ?? []);
    this.#opened = new Promise((resolve, reject) => { this.#settleOpened = { resolve, reject }; });
    this.#closed = new Promise((resolve, reject) => { this.#settleClosed = { resolve, reject }; });
    // Unobserved rejections are not errors of the page's.
    this.#opened.catch(() => {});
    this.#closed.catch(() => {});
    const signal = options?.signal;
    if (signal?.aborted) {
      this.#fail(signal.reason ?? new DOMException('aborted', 'AbortError'));
      return;
    }
    signal?.addEventListener('abort', () => {
      if (this.#state === 'connecting') {
        this.#socket?.close(undefined, undefined);
        this.#fail(signal.reason ?? new DOMException('aborted', 'AbortError'));
      }
    });
    try {
      this.#device = pulledDevice();
      this.#socket = this.#device.createWebsocket(this.#url, connectOptions(protocols));
    } catch (thrown) {
      const error = errorCodeOf(thrown);
      if (error.tag === 'invalid-url' || error.tag === 'invalid-options') {
        throw new DOMException(`WebSocketStream: ${error.val}`, 'SyntaxError');
      }
      // A refused connection fails after the constructor, as in a browser.
      queueMicrotask(() => this.#fail(new WebSocketError(describeErrorCode(error))));
      return;
    }
    this.#listen();
  }

  get url() { return this.#url; }
  get opened() { return this.#opened; }
  get closed() { return this.#closed; }

  /** Starts the closing handshake (`closeCode` 1000 or 3000-4999, `reason` at most 123 bytes). */
  close({ closeCode, reason } = {}) {
    [closeCode, reason] = checkClose('WebSocketStream.close', closeCode, reason);
    if (closeCode === undefined && reason !== undefined && reason !== '') closeCode = 1000;
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = this.#state === 'connecting' ? 'closed' : 'closing';
    this.#socket?.close(closeCode, reason);
    this.#listen();
  }

  // Watches the device while something waits for its events: the handshake,
  // a reader that asked for more, the closing handshake.
  #listen() {
    if (this.#cancelWatch !== null || this.#device === null) return;
    const wanted = this.#state !== 'open' || this.#wantRead;
    if (!wanted || this.#settled()) return;
    this.#cancelWatch = watch(this.#device.subscribe(), () => {
      this.#cancelWatch = null;
      this.#pump();
    });
  }

  #settled() {
    return this.#socket === null;
  }

  // The messages at the head of the queue come packed (`take-packed`: a
  // few flat lists, not an object per event); the events from the first
  // other one on come with `update`. Once the reader has enough, what else
  // is pending is taken at once too, as before the messages came packed.
  #pump() {
    const { binary, lengths, payloads } = this.#device.takePacked();
    if (lengths.length > 0) {
      let start = 0;
      for (let i = 0; i < lengths.length; i++) {
        const end = start + lengths[i];
        const bytes = payloads.subarray(start, end);
        this.#reader.enqueue(binary[i] ? new Uint8Array(toArrayBuffer(bytes)) : fromUtf8.decode(bytes));
        start = end;
      }
      // Freed now rather than at the next collection (see websocket.js).
      if (lengths.length > 1) payloads.buffer.transfer(0);
      this.#read();
      if (this.#wantRead) {
        this.#listen();
        return;
      }
    }
    for (const { kind } of this.#device.update()) {
      switch (kind.tag) {
        case 'open': this.#open(); break;
        case 'message': this.#message(kind.val); break;
        case 'error': this.#failure = kind.val; break;
        case 'close': this.#close(kind.val); return;
      }
    }
    this.#listen();
  }

  #open() {
    if (this.#state !== 'connecting') return;
    this.#state = 'open';
    const socket = this.#socket;
    this.#readable = new ReadableStream({
      start: (controller) => { this.#reader = controller; },
      pull: () => new Promise((resolve) => {
        this.#wantRead = true;
        this.#pullDone = resolve;
        this.#listen();
      }),
      cancel: (reason) => this.close(reason instanceof WebSocketError ? reason : {}),
    });
    // What the host buffers is at most what it said last plus what was sent
    // since (it only ever drains), so it is asked again only when that
    // bound passes the high-water mark: a call per write cost more than
    // sending a small message.
    let bufferedAtMost = 0;
    const writable = new WritableStream({
      write: async (chunk) => {
        if (bufferedAtMost > HIGH_WATER_MARK) {
          bufferedAtMost = Number(socket.bufferedAmount());
          if (bufferedAtMost > HIGH_WATER_MARK) {
            await new Promise((resolve) => watch(socket.subscribeWritable(BigInt(LOW_WATER_MARK)), resolve));
            bufferedAtMost = LOW_WATER_MARK;
          }
        }
        if (this.#state !== 'open') throw new WebSocketError('WebSocketStream: the connection is closing');
        const message = messageOf(chunk);
        const bytes = message === null ? encodeUtf8(chunk) : message.val;
        if (message === null) socket.sendUtf8(bytes);
        else socket.sendBinary(bytes);
        bufferedAtMost += bytes.byteLength;
      },
      close: () => this.close(),
      abort: (reason) => this.close(reason instanceof WebSocketError ? reason : {}),
    });
    this.#settleOpened.resolve({
      readable: this.#readable,
      writable,
      protocol: socket.protocol(),
      extensions: socket.extensions(),
    });
  }

  #message({ tag, val }) {
    // Binary messages are Uint8Arrays, as the explainer has them.
    this.#reader.enqueue(tag === 'text' ? val : new Uint8Array(val));
    this.#read();
  }

  // Chunks were enqueued: the pending pull is answered.
  #read() {
    this.#wantRead = this.#reader.desiredSize > 0;
    this.#pullDone?.();
    this.#pullDone = null;
  }

  #close({ code, reason, wasClean }) {
    this.#state = 'closed';
    this.#cancelWatch?.();
    this.#cancelWatch = null;
    this.#socket[Symbol.dispose]();
    this.#socket = null;
    this.#device[Symbol.dispose]();
    this.#device = null;
    if (wasClean) {
      try { this.#reader?.close(); } catch { /* already closed by cancel */ }
      this.#pullDone?.();
      this.#settleOpened.reject(new WebSocketError('WebSocketStream: closed before it opened', { closeCode: code, reason }));
      this.#settleClosed.resolve({ closeCode: code, reason });
    } else {
      const why = this.#failure === null ? 'the connection was lost' : describeErrorCode(this.#failure);
      this.#fail(new WebSocketError(`WebSocketStream: ${why}`, { closeCode: code, reason }));
    }
  }

  #fail(error) {
    this.#state = 'closed';
    try { this.#reader?.error(error); } catch { /* already closed */ }
    this.#pullDone?.();
    this.#settleOpened.reject(error);
    this.#settleClosed.reject(error);
  }
}

/**
 * Turbulenz's `NetworkDevice`: `createWebSocket(url, protocol)` gives a socket
 * with `onopen`, `onmessage(message)` (`message.data`), `onerror`, `onclose`,
 * `send`, `close`, `destroy` and `readyState`; nothing is delivered until the
 * game calls `update()` (once per frame), which runs the callbacks of every
 * event pending.
 */
export class NetworkDevice {
  #device = null;
  #sockets = new Map(); // host id → TurbulenzWebSocket

  /** A socket to `url`, offering `protocol` (a string or a list) if given. */
  createWebSocket(url, protocol = undefined) {
    this.#device ??= pulledDevice();
    const href = parseURL(String(url)).href;
    const protocols = protocol === undefined ? [] : parseProtocols(protocol);
    let handle;
    try {
      handle = this.#device.createWebsocket(href, connectOptions(protocols));
    } catch (thrown) {
      const error = errorCodeOf(thrown);
      if (error.tag === 'invalid-url' || error.tag === 'invalid-options') {
        throw new DOMException(`NetworkDevice.createWebSocket: ${error.val}`, 'SyntaxError');
      }
      console.error(`NetworkDevice.createWebSocket: ${describeErrorCode(error)}`);
      return null;
    }
    const socket = new TurbulenzWebSocket(href, handle, (id) => this.#sockets.delete(id));
    this.#sockets.set(handle.id(), socket);
    return socket;
  }

  /** Runs the callbacks of every pending event, in order. */
  update() {
    if (this.#device === null) return;
    for (const { socket, kind } of this.#device.update()) {
      this.#sockets.get(socket)?.deliver(kind);
    }
  }
}

/** A socket of a Turbulenz `NetworkDevice`. */
class TurbulenzWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  #handle;
  #forget;
  onopen = null;
  onmessage = null;
  onerror = null;
  onclose = null;

  constructor(url, handle, forget) {
    this.url = url;
    this.#handle = handle;
    this.#forget = forget;
  }

  get readyState() {
    if (this.#handle === null) return TurbulenzWebSocket.CLOSED;
    return ['connecting', 'open', 'closing', 'closed'].indexOf(this.#handle.readyState());
  }

  /** Sends text (a string) or binary data (an ArrayBuffer or a view). */
  send(data) {
    if (this.#handle === null) return false;
    const message = messageOf(data);
    try {
      if (message === null) this.#handle.sendUtf8(encodeUtf8(data));
      else this.#handle.sendBinary(message.val);
      return true;
    } catch (thrown) {
      console.error(`WebSocket.send: ${describeErrorCode(errorCodeOf(thrown))}`);
      return false;
    }
  }

  close(code = undefined, reason = undefined) {
    [code, reason] = checkClose('WebSocket.close', code, reason);
    this.#handle?.close(code, reason);
  }

  /** Releases the socket at once: no callback runs for it any more. */
  destroy() {
    if (this.#handle === null) return;
    this.#forget(this.#handle.id());
    this.#handle[Symbol.dispose]();
    this.#handle = null;
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
  }

  deliver({ tag, val }) {
    switch (tag) {
      case 'open': this.onopen?.(); break;
      case 'message': this.onmessage?.({ data: val.tag === 'text' ? val.val : toArrayBuffer(val.val) }); break;
      case 'error': this.onerror?.({ error: describeErrorCode(val) }); break;
      case 'close': {
        const onclose = this.onclose;
        this.#forget(this.#handle.id());
        onclose?.({ code: val.code, reason: val.reason, wasClean: val.wasClean });
        break;
      }
    }
  }
}

Object.defineProperty(globalThis, 'WebSocketStream', { value: WebSocketStream, writable: true, configurable: true });
Object.defineProperty(globalThis, 'WebSocketError', { value: WebSocketError, writable: true, configurable: true });
