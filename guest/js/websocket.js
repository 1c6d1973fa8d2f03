// websocket.js: the browser's `WebSocket` class (WHATWG HTML,
// https://websockets.spec.whatwg.org/) for JavaScript components built with
// componentize-js, on the `wit-websocket:client` imports; and the package's
// main entry, which re-exports what a component's entry needs. The class
// owns a socket's state and its sends; it leaves the device and the dispatch
// of its events to device.js, the checks to rules.js and webidl.js, the
// events to events.js.
//
// A component entry re-exports `handler` (the host calls it with each socket's
// events) and `watchHandler` (timers), and exports `run` made by `main`:
//
//     import { main } from './websocket.js';
//     export { handler, watchHandler } from './websocket.js';
//     export const run = main((args) => {
//       const ws = new WebSocket(args[1]);
//       ws.onmessage = (event) => console.log(event.data);
//     });
//
// Build with `guest/componentize path/to/entry.js app.wasm` (it installs the
// pinned componentize-js from package.json and runs it from the repository
// root: componentize-js resolves relative imports below its working directory only).
//
// Importing this module also installs `WebSocket`, `MessageEvent` and
// `CloseEvent` on `globalThis`, so code written for a browser page runs as is.
// Events are dispatched by the runtime's native `EventTarget`; `isTrusted` is
// false on them, as on any event dispatched from script.
//
// Where the component differs from a page: the module's top-level code runs
// when the component is built (a Wizer snapshot), so sockets can be created
// only from `run` on (the network device is created on first use); and the
// host only calls in when the guest is idle, so a listener that runs for long
// holds every other socket's events back, as it would hold a page's.

import { live, packing, registerWebSocket, socketDevice, watchEvents } from './device.js';
import { currentTurn } from './event-loop.js';
import { CloseEvent, eventHandler, messageEvent, reportException, setEventHandler } from './events.js';
import { parseURL } from './rules.js';
import { checkClose, exposeInterface, parseProtocols, toDOMString } from './webidl.js';
import {
  byteLength,
  connectOptions,
  describeErrorCode,
  encodeUtf8,
  errorCodeOf,
  KEPT_BUFFER_BYTES,
  MAX_UTF8_PER_UNIT,
  toArrayBuffer,
  toMessage,
  utf8,
} from './wit-types.js';

export { handler } from './device.js';
export { watchHandler, setTimeout, setInterval, clearTimeout, clearInterval } from './event-loop.js';
export { MessageEvent, CloseEvent } from './events.js';
export { main } from './run.js';
export { parseURL } from './rules.js';
export { checkClose, parseProtocols } from './webidl.js';
export { connectOptions, describeErrorCode, encodeUtf8, errorCodeOf, toArrayBuffer } from './wit-types.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

// While device.js's `deliverEvents` dispatches several messages (`packing`),
// sends are packed (see #transmit): the sockets with messages packed.
const packed = new Set();
// Messages up to this size are packed; larger ones go in a call of their own
// (packing would copy them once more).
const PACKED_MESSAGE_BYTES = 16 << 10;
const EMPTY_PACK = new Uint8Array(0);

// WebSocket's static block assigns it (see there); #deliver calls it too.
let received;

/** A WebSocket connection, as `new WebSocket(url, protocols)` in a browser. */
export class WebSocket extends EventTarget {
  #url;
  #origin;
  #handle = null; // the host's `websocket`, owned: from creation to the close event
  #state = CONNECTING;
  #protocol = '';
  #extensions = '';
  #binaryType = 'blob';
  // Bytes passed to send() that will never be sent: sent after close() or
  // the close event (the spec counts them in bufferedAmount), or left in the
  // host's buffer when the connection ended.
  #unsentBytes = 0;
  // Messages sent behind a Blob still being read, kept so that they go out in
  // send order: { size, message }, message undefined until read (null if the
  // Blob could not be read).
  #outbox = [];
  #outboxBytes = 0;
  #pendingClose = null; // close()'s [code, reason], held while #outbox drains
  // The host's buffered bytes as of this turn of the event loop (asked on
  // the first read in a turn), plus what was sent since: bufferedAmount
  // must not fall while a script runs.
  #bufferedTurn = -1;
  #buffered = 0;
  // The host refused a message while open (too large, buffer full): the
  // spec's "flagged as full", so an error event comes before the close event.
  #flaggedFull = false;
  // The event handler attributes (onopen, ...): type → { callback, listener }.
  #handlers = new Map();
  // Messages sent while a batch of received ones is dispatched, packed for
  // one `send-packed` at its end (see #transmit): their bytes back to
  // back, and per message 1 if it is binary (else 0) and its length.
  #packBytes = EMPTY_PACK;
  #packLength = 0;
  #packBinary = [];
  #packLengths = [];

  constructor(url, protocols = []) {
    if (arguments.length === 0) throw new TypeError('WebSocket constructor: At least 1 argument required');
    const parsed = parseURL(toDOMString(url).toWellFormed(), globalThis.location?.href);
    const offered = parseProtocols(protocols);
    super();
    this.#url = parsed.href;
    this.#origin = parsed.origin;

    const device = socketDevice();
    let error;
    try {
      this.#handle = device.createWebsocket(this.#url, connectOptions(offered));
    } catch (thrown) {
      error = errorCodeOf(thrown);
    }
    if (error === undefined) {
      live.set(this.#handle.id(), this);
      watchEvents();
    } else if (error.tag === 'invalid-url' || error.tag === 'invalid-options') {
      throw new DOMException(`WebSocket: ${error.val}`, 'SyntaxError');
    } else {
      // The host refused to start (network policy, socket limit): a browser
      // reports such failures as events after the constructor returns.
      queueMicrotask(() => {
        this.#failed(error);
        this.#closed({ code: 1006, reason: '', wasClean: false });
      });
    }
  }

  get url() { return this.#url; }
  get readyState() { return this.#state; }
  get protocol() { return this.#protocol; }
  get extensions() { return this.#extensions; }

  get bufferedAmount() {
    if (this.#bufferedTurn !== currentTurn()) {
      this.#bufferedTurn = currentTurn();
      this.#buffered = this.#handle === null ? 0 : Number(this.#handle.bufferedAmount());
    }
    return this.#buffered + this.#packLength + this.#outboxBytes + this.#unsentBytes;
  }

  get binaryType() { return this.#binaryType; }
  set binaryType(value) {
    value = toDOMString(value);
    // An enumeration attribute ignores values outside the enumeration.
    if (value === 'blob' || value === 'arraybuffer') this.#binaryType = value;
  }

  get onopen() { return eventHandler(this.#handlers, 'open'); }
  set onopen(value) { setEventHandler(this, this.#handlers, 'open', value); }
  get onmessage() { return eventHandler(this.#handlers, 'message'); }
  set onmessage(value) { setEventHandler(this, this.#handlers, 'message', value); }
  get onerror() { return eventHandler(this.#handlers, 'error'); }
  set onerror(value) { setEventHandler(this, this.#handlers, 'error', value); }
  get onclose() { return eventHandler(this.#handlers, 'close'); }
  set onclose(value) { setEventHandler(this, this.#handlers, 'close', value); }

  /** Sends a string (as text), or an ArrayBuffer, a view's bytes or a Blob (as binary). */
  send(data) {
    // An echoing client's send, while a batch of received messages is
    // dispatched: a small view of bytes on an open socket with nothing
    // waiting is packed at once (every step costs 0.1-0.2 µs in the
    // interpreter; this path has the fewest: 2.0 µs, where checking the
    // argument count first and reading byteLength four times took 2.5).
    if (packing && ArrayBuffer.isView(data) && data.BYTES_PER_ELEMENT === 1 && this.#state === OPEN
        && this.#outbox.length === 0 && this.#handle !== null) {
      const size = data.byteLength;
      if (size <= PACKED_MESSAGE_BYTES) {
        this.#pack(1, data, size);
        return;
      }
    }
    if (arguments.length === 0) throw new TypeError('WebSocket.send: At least 1 argument required');
    // The common case first, without conversions: a string or a view's bytes
    // (the bindings copy any view) on an open socket with nothing waiting.
    if (this.#state === OPEN && this.#outbox.length === 0) {
      if (typeof data === 'string') return this.#transmit({ tag: 'text', val: data.toWellFormed() });
      if (ArrayBuffer.isView(data)) return this.#transmit({ tag: 'binary', val: data });
    }
    const blob = data instanceof Blob ? data : null;
    const message = blob === null ? toMessage(data) : undefined;
    if (this.#state === CONNECTING) {
      throw new DOMException('WebSocket.send: the socket is still connecting', 'InvalidStateError');
    }
    if (this.#state !== OPEN) {
      this.#unsentBytes += blob === null ? byteLength(message) : blob.size;
      return;
    }
    if (blob !== null) {
      // A Blob's bytes can only be read asynchronously; the read resolves
      // before the host's next callback (microtasks run at the end of each
      // call into the guest), and later sends wait behind it.
      const entry = { size: blob.size, message: undefined };
      this.#outbox.push(entry);
      this.#outboxBytes += entry.size;
      blob.arrayBuffer().then(
        (buffer) => { entry.message = { tag: 'binary', val: new Uint8Array(buffer) }; },
        (error) => { entry.message = null; reportException(error); },
      ).then(() => this.#flush());
    } else if (this.#outbox.length === 0) {
      this.#transmit(message);
    } else {
      // The spec sends the bytes as they are now: copy them while they wait.
      const copy = message.tag === 'text' ? message : { tag: 'binary', val: message.val.slice() };
      const size = byteLength(copy);
      this.#outbox.push({ size, message: copy });
      this.#outboxBytes += size;
    }
  }

  /** Starts the closing handshake (or, while connecting, fails the connection). */
  close(code = undefined, reason = undefined) {
    [code, reason] = checkClose('WebSocket.close', code, reason);
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    this.#sendPacked(); // the messages sent before it go first
    if (this.#state === CLOSING) return; // the host refused one: closing already
    this.#state = CLOSING;
    if (this.#outbox.length > 0) {
      this.#pendingClose = [code, reason]; // after the messages sent before it
    } else {
      // Without a handle the host refused the socket; its events are queued.
      this.#handle?.close(code, reason);
    }
  }

  // Hands one message to the host. While a batch of received messages is
  // dispatched, small ones are packed and go together in one `send-packed`
  // call at its end (a call costs more than a small message: an echoing
  // client makes one call per batch, not one per message); elsewhere, and
  // large ones, at once (after any packed before them). A message the host
  // refuses while open is lost (invalid-state: the peer has started
  // closing), or, when it is too large or the host's buffer is full, closes
  // the connection as a browser does.
  #transmit(message, size) {
    if (message === null || this.#handle === null) {
      this.#unsentBytes += size ?? byteLength(message);
      return;
    }
    if (packing) {
      // A view of bytes (Uint8Array, Int8Array, …) is packed as it is: no
      // new view (0.5 µs), and no `instanceof` (0.2 µs in the interpreter).
      // Text is encoded into the pack (see #pack), when it is short enough
      // (UTF-8 takes at least a byte per UTF-16 unit).
      const view = message.val;
      if (message.tag === 'text') {
        if (view.length <= PACKED_MESSAGE_BYTES) {
          this.#pack(0, view, MAX_UTF8_PER_UNIT * view.length);
          return;
        }
      } else {
        const bytes = view.BYTES_PER_ELEMENT === 1 ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
        if (bytes.byteLength <= PACKED_MESSAGE_BYTES) {
          this.#pack(1, bytes, bytes.byteLength);
          return;
        }
      }
      this.#sendPacked(); // those before it go first
    }
    // At once, with as little work as can be: this is a round trip's path.
    let error;
    try {
      let sent;
      if (message.tag === 'text') {
        const bytes = encodeUtf8(message.val);
        this.#handle.sendUtf8(bytes);
        sent = bytes.byteLength;
      } else {
        this.#handle.sendBinary(message.val);
        sent = message.val.byteLength;
      }
      if (this.#bufferedTurn === currentTurn()) this.#buffered += sent;
      return;
    } catch (thrown) {
      error = errorCodeOf(thrown);
    }
    const unsent = size ?? byteLength(message);
    this.#sent(unsent, unsent, error);
  }

  // Packs a message: binary (`binary` 1) from a view of `size` bytes, or
  // text (`binary` 0) from a string encoded here, in at most `size` bytes.
  #pack(binary, data, size) {
    const start = this.#packLength;
    let pack = this.#packBytes;
    if (start + size > pack.byteLength) {
      const grown = new Uint8Array(Math.max(2 * pack.byteLength, start + size, 4096));
      grown.set(pack.subarray(0, start));
      this.#packBytes = pack = grown;
    }
    if (binary) pack.set(data, start);
    else size = utf8.encodeInto(data, pack.subarray(start)).written;
    this.#packLength = start + size;
    this.#packBinary.push(binary);
    if (this.#packLengths.push(size) === 1) packed.add(this);
  }

  // The packed messages, to the host in one call.
  #sendPacked() {
    const count = this.#packLengths.length;
    if (count === 0) return;
    const binary = this.#packBinary;
    const lengths = this.#packLengths;
    const bytes = this.#packBytes.subarray(0, this.#packLength);
    const total = this.#packLength;
    this.#packBinary = [];
    this.#packLengths = [];
    this.#packLength = 0;
    // A large batch's buffer is not kept for the next.
    if (this.#packBytes.byteLength > KEPT_BUFFER_BYTES) this.#packBytes = EMPTY_PACK;
    packed.delete(this);
    let queued = count;
    let error = null;
    if (this.#handle === null) {
      queued = 0;
    } else {
      try {
        // One message alone goes by the import with one list to lower.
        if (count === 1 && binary[0]) this.#handle.sendBinary(bytes);
        else if (count === 1) this.#handle.sendUtf8(bytes);
        // Typed arrays, which the bindings copy whole (an Array goes through
        // a per-element loop); the constructor, not Uint32Array.from, whose
        // iterator takes 1.9 µs for 25 lengths against 0.5.
        else this.#handle.sendPacked(new Uint8Array(binary), new Uint32Array(lengths), bytes);
      } catch (thrown) {
        if (count === 1) {
          queued = 0;
          error = errorCodeOf(thrown);
        } else {
          // The error is [how many were queued, why the next was refused].
          if (!Array.isArray(thrown?.payload)) throw thrown;
          [queued, error] = thrown.payload;
        }
      }
    }
    let unsent = 0;
    for (let i = queued; i < count; i++) unsent += lengths[i];
    this.#sent(total, unsent, error);
  }

  // Accounts for `total` bytes handed to the host, of which it refused
  // `unsent` (for `error`).
  #sent(total, unsent, error) {
    if (this.#bufferedTurn === currentTurn()) this.#buffered += total - unsent;
    this.#unsentBytes += unsent;
    if (error !== null && error.tag !== 'invalid-state') {
      console.error(`WebSocket: cannot send to '${this.#url}': ${describeErrorCode(error)}; closing`);
      this.#flaggedFull = true;
      this.#state = CLOSING;
      this.#handle.close(undefined, undefined);
    }
  }

  // Sends the messages at the head of the outbox whose bytes are ready, then
  // a close() that waited for them.
  #flush() {
    while (this.#outbox.length > 0 && this.#outbox[0].message !== undefined) {
      const { size, message } = this.#outbox.shift();
      this.#outboxBytes -= size;
      this.#transmit(message, size);
    }
    if (this.#outbox.length === 0 && this.#pendingClose !== null) {
      const [code, reason] = this.#pendingClose;
      this.#pendingClose = null;
      this.#sendPacked();
      this.#handle?.close(code, reason);
    }
  }

  // The host's callbacks, in the order the spec's tasks run them.

  #opened() {
    if (this.#state !== CONNECTING) return;
    this.#state = OPEN;
    this.#protocol = this.#handle.protocol();
    this.#extensions = this.#handle.extensions();
    super.dispatchEvent(new Event('open'));
  }

  #failed(error) {
    this.#flaggedFull = false; // this error event is the one
    // A browser hides the reason from script but shows it in its console:
    // why a connection could not be made, or broke the protocol. A peer that
    // went away once the connection was open (an `io` error: reset, or no
    // close frame) is an ordinary close (1006), not worth a console line.
    if (this.#state === CONNECTING || error.tag !== 'io') {
      console.error(`WebSocket connection to '${this.#url}' failed: ${describeErrorCode(error)}`);
    }
    this.#state = CLOSED;
    super.dispatchEvent(new Event('error'));
  }

  #closed({ code, reason, wasClean }) {
    this.#sendPacked(); // refused now: counted as unsent
    this.#state = CLOSED;
    this.#buffered = 0; // counted in #unsentBytes from now on
    if (this.#handle !== null) {
      this.#unsentBytes += Number(this.#handle.bufferedAmount());
      live.delete(this.#handle.id());
      // The close event is the socket's last: release the host's resource
      // now rather than at garbage collection. The handle is unusable after.
      this.#handle[Symbol.dispose]();
      this.#handle = null;
    }
    if (this.#flaggedFull) super.dispatchEvent(new Event('error'));
    super.dispatchEvent(new CloseEvent('close', { wasClean, code, reason }));
  }

  // One event from the host, for this socket.
  #deliver(kind) {
    switch (kind.tag) {
      case 'message': {
        const binary = kind.val.tag === 'binary';
        received(this, binary, binary ? toArrayBuffer(kind.val.val) : kind.val.val);
        break;
      }
      case 'open': this.#opened(); break;
      case 'error': this.#failed(kind.val); break;
      case 'close': this.#closed(kind.val); break;
    }
  }

  static {
    // A message to `ws`: text as a string, binary as an ArrayBuffer of its
    // own. A function here rather than a method, so that receivePacked's
    // loop calls it directly (a method reached through a helper cost 0.2 µs
    // of the 4 a message takes); it dispatches with EventTarget's own
    // dispatchEvent, as `super.dispatchEvent` does in the methods.
    const eventTarget = Object.getPrototypeOf(WebSocket.prototype);
    received = (ws, binary, data) => {
      // As in a browser, messages that arrive after close() are dropped.
      if (ws.#state !== OPEN) return;
      if (binary && ws.#binaryType === 'blob') data = new Blob([data]);
      eventTarget.dispatchEvent.call(ws, messageEvent(data, ws.#origin));
    };
    registerWebSocket({
      deliver: (ws, kind) => ws.#deliver(kind),
      received,
      sendAllPacked: () => {
        for (const ws of [...packed]) ws.#sendPacked();
      },
    });
  }
}

// WebIDL constants: read-only, on the interface and its prototype.
for (const target of [WebSocket, WebSocket.prototype]) {
  Object.defineProperties(target, {
    CONNECTING: { value: CONNECTING, enumerable: true },
    OPEN: { value: OPEN, enumerable: true },
    CLOSING: { value: CLOSING, enumerable: true },
    CLOSED: { value: CLOSED, enumerable: true },
  });
}

exposeInterface('WebSocket', WebSocket);
