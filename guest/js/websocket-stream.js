// websocket-stream.js: the WebSocketStream API (WHATWG explainer,
// https://github.com/whatwg/websockets/blob/main/explainer.md) for
// componentize-js components, and the `wit-websocket-guest/stream` entry,
// which also exports Turbulenz's `NetworkDevice` (turbulenz.js). It must not
// touch the WebSocket class's device or sockets (device.js's `live`).
//
// A WebSocketStream takes its socket's events only when it wants them: it
// has a device of its own whose events the host does not push
// (`set-push(false)`) and that it reads with `take-packed` and `update`,
// waking on the device's pollable through the host's event loop (`watch`).
// A reader that stops reading leaves the events with the host, which then
// stops reading the connection (TCP pushes back on the server); a writer's
// `ready` waits until the socket's buffered bytes fall to the low-water mark.

import { pulledDevice } from './device.js';
import { watch } from './event-loop.js';
import { receivePacked } from './packed.js';
import { parseURL } from './rules.js';
import { checkClose, parseProtocols } from './webidl.js';
import { connectOptions, describeErrorCode, encodeUtf8, errorCodeOf, messageOf } from './wit-types.js';

export { NetworkDevice } from './turbulenz.js';

/** Bytes buffered above which a WebSocketStream writer waits: 1 MiB. */
export const HIGH_WATER_MARK = 1 << 20;
/** Bytes buffered a waiting writer waits for: 256 KiB. */
export const LOW_WATER_MARK = 256 << 10;

// A received message as the readable's chunk: binary messages are
// Uint8Arrays, as the explainer has them (receivePacked's `receive`).
function enqueueChunk(reader, binary, data) {
  reader.enqueue(binary ? new Uint8Array(data) : data);
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
    this.#url = parseURL(String(url).toWellFormed(), globalThis.location?.href).href;
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
    const batch = this.#device.takePacked();
    if (batch.lengths.length > 0) {
      receivePacked(batch, this.#reader, enqueueChunk);
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

Object.defineProperty(globalThis, 'WebSocketStream', { value: WebSocketStream, writable: true, configurable: true });
Object.defineProperty(globalThis, 'WebSocketError', { value: WebSocketError, writable: true, configurable: true });
