// The browser's `WebSocket` API (WHATWG HTML, https://websockets.spec.whatwg.org/)
// for JavaScript components built with componentize-js, on the
// `wit-websocket:client` imports.
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

import { NetworkDevice } from 'wit-websocket:client/network@0.1.6';
import { getArguments } from 'wasi:cli/environment@0.2.12';
import { exit } from 'wasi:cli/exit@0.2.12';
import { currentTurn, newTurn, pendingFetches, startEventLoop, watchEvents as watchDeviceEvents } from './event-loop.js';

export { watchHandler, setTimeout, setInterval, clearTimeout, clearInterval } from './event-loop.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

// A subprotocol must be an RFC 2616 token: U+0021..U+007E minus separators.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

// The one network device, made on first use (never at build time). Its
// events are not pushed one callback each: while a socket is live, the host
// calls in once whenever events are pending, and `deliverEvents` takes them
// all with one `update`.
let device = null;
// Cancels that (`watchEvents`); null while no socket is live.
let cancelEventWatch = null;

// Every WebSocket from creation to its close event, by the host's socket id:
// the host names sockets by id in its callbacks, and holding the WebSocket
// here keeps its owned handle alive (dropping that would destroy the socket).
const live = new Map();

// While `deliverEvents` dispatches several messages, sends are packed (see
// #transmit); the sockets with messages packed, and what sends them all.
let packing = false;
const packed = new Set();
let sendAllPacked;
// Messages up to this size are packed; larger ones go in a call of their own
// (packing would copy them once more).
const PACKED_MESSAGE_BYTES = 16 << 10;
const PACK_KEPT_BYTES = 256 << 10;
const EMPTY_PACK = new Uint8Array(0);
// UTF-8's most bytes for one UTF-16 code unit (a lone surrogate, or any
// unit from U+0800; a pair takes 4 for its two).
const MAX_UTF8_PER_UNIT = 3;
// encodeUtf8's buffer.
let encoded = EMPTY_PACK;

// addEventListener's callbacks → the listener registered for each (see
// `listenerFor`).
const listeners = new WeakMap();

// The WIT `handler` export, and WebSocket's #deliver and the packed batch's
// loop for `deliverEvents`; assigned in WebSocket's static block, the only
// place its private methods can be reached from.
export let handler;
let deliver;
let receivePacked;

// MessageEvent's factory for received messages (see its static block).
let messageEvent;

// StarlingMonkey's EventTarget calls listeners with `this` = globalThis
// where the DOM says the event's currentTarget. Fixed for every EventTarget
// (so WebSocket.prototype, as WebIDL wants, has no addEventListener of its
// own): each callback runs through `listenerFor`, which also reports what it
// throws and goes on, as the DOM does.
const nativeAddEventListener = EventTarget.prototype.addEventListener;
const nativeRemoveEventListener = EventTarget.prototype.removeEventListener;
Object.defineProperties(EventTarget.prototype, {
  addEventListener: {
    value: function addEventListener(type, callback, options = undefined) {
      return nativeAddEventListener.call(this, type, listenerFor(callback), options);
    },
    writable: true,
    enumerable: true,
    configurable: true,
  },
  removeEventListener: {
    value: function removeEventListener(type, callback, options = undefined) {
      return nativeRemoveEventListener.call(this, type, listeners.get(callback) ?? callback, options);
    },
    writable: true,
    enumerable: true,
    configurable: true,
  },
});

/** The `message` event (HTML's `MessageEvent`, without `initMessageEvent`). */
export class MessageEvent extends Event {
  // One private field, an array: [data, origin, lastEventId, source, ports],
  // where a received message's event has only the first two. StarlingMonkey's
  // interpreter spends ~0.3 µs per private field on every event made (one is
  // made for every message received), and ~0.5 µs to store an object literal
  // in one, where a short array takes 0.06.
  #fields = null;

  constructor(type, init = undefined) {
    if (arguments.length === 0) throw new TypeError('MessageEvent constructor: At least 1 argument required');
    super(type, init);
    if (init === undefined || init === null) {
      this.#fields = [null, ''];
      return;
    }
    this.#fields = [
      init.data === undefined ? null : init.data,
      init.origin === undefined ? '' : toDOMString(init.origin),
      init.lastEventId === undefined ? '' : toDOMString(init.lastEventId),
      init.source ?? null,
      init.ports === undefined || init.ports === null ? undefined : Object.freeze([...init.ports]),
    ];
  }

  // A received message's event, without the dictionary's conversions: one
  // is made for every message.
  static #received(data, origin) {
    const event = new MessageEvent('message');
    const fields = event.#fields;
    fields[0] = data;
    fields[1] = origin;
    return event;
  }

  static {
    messageEvent = MessageEvent.#received;
  }

  get data() { return this.#fields[0]; }
  get origin() { return this.#fields[1]; }
  get lastEventId() { return this.#fields[2] ?? ''; }
  get source() { return this.#fields[3] ?? null; }
  get ports() {
    // Most events are never asked: their empty array is made on first read.
    return (this.#fields[4] ??= Object.freeze([]));
  }
}

/** The `close` event. */
export class CloseEvent extends Event {
  #wasClean;
  #code;
  #reason;

  constructor(type, init = {}) {
    if (arguments.length === 0) throw new TypeError('CloseEvent constructor: At least 1 argument required');
    super(type, init);
    init ??= {};
    this.#wasClean = Boolean(init.wasClean);
    this.#code = (Number(init.code ?? 0) >>> 0) & 0xffff; // WebIDL unsigned short
    this.#reason = init.reason === undefined ? '' : toDOMString(init.reason);
  }

  get wasClean() { return this.#wasClean; }
  get code() { return this.#code; }
  get reason() { return this.#reason; }
}

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
    const parsed = parseURL(toDOMString(url).toWellFormed());
    const offered = parseProtocols(protocols);
    super();
    this.#url = parsed.href;
    this.#origin = parsed.origin;

    device ??= new NetworkDevice();
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

  get onopen() { return this.#getHandler('open'); }
  set onopen(value) { this.#setHandler('open', value); }
  get onmessage() { return this.#getHandler('message'); }
  set onmessage(value) { this.#setHandler('message', value); }
  get onerror() { return this.#getHandler('error'); }
  set onerror(value) { this.#setHandler('error', value); }
  get onclose() { return this.#getHandler('close'); }
  set onclose(value) { this.#setHandler('close', value); }

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

  #getHandler(type) {
    return this.#handlers.get(type)?.callback ?? null;
  }

  // HTML's event handler attributes: the first non-null value registers a
  // listener, which keeps its place among the others while the value
  // changes; null (or any non-function) removes it.
  #setHandler(type, value) {
    const slot = this.#handlers.get(type);
    if (typeof value !== 'function') {
      if (slot) {
        nativeRemoveEventListener.call(this, type, slot.listener);
        this.#handlers.delete(type);
      }
    } else if (slot) {
      slot.callback = value;
    } else {
      const added = { callback: value, listener: (event) => invoke(added.callback, this, event) };
      this.#handlers.set(type, added);
      nativeAddEventListener.call(this, type, added.listener);
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
    if (this.#packBytes.byteLength > PACK_KEPT_BYTES) this.#packBytes = EMPTY_PACK;
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

  // A message: text as a string, binary as an ArrayBuffer of its own.
  #received(binary, data) {
    // As in a browser, messages that arrive after close() are dropped.
    if (this.#state !== OPEN) return;
    if (binary && this.#binaryType === 'blob') data = new Blob([data]);
    super.dispatchEvent(messageEvent(data, this.#origin));
  }

  #failed(error) {
    this.#flaggedFull = false; // this error event is the one
    this.#state = CLOSED;
    // A browser hides the reason from script but shows it in its console.
    console.error(`WebSocket connection to '${this.#url}' failed: ${describeErrorCode(error)}`);
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
        this.#received(binary, binary ? toArrayBuffer(kind.val.val) : kind.val.val);
        break;
      }
      case 'open': this.#opened(); break;
      case 'error': this.#failed(kind.val); break;
      case 'close': this.#closed(kind.val); break;
    }
  }

  static {
    deliver = (ws, kind) => ws.#deliver(kind);
    sendAllPacked = () => {
      for (const ws of [...packed]) ws.#sendPacked();
    };
    // The messages of a `take-packed` batch, each to its socket. The loop is
    // here, where #received is reached directly: a helper called per message
    // to reach it cost 0.2 µs of the 4 a message takes to dispatch.
    receivePacked = ({ sockets, binary, lengths, payloads }) => {
      const count = lengths.length;
      // Read once: each is a native getter call (~0.2 µs in the interpreter).
      const buffer = payloads.buffer;
      let start = payloads.byteOffset;
      for (let i = 0; i < count; i++) {
        const end = start + lengths[i];
        const ws = live.get(sockets[i]);
        if (ws !== undefined) {
          // Each binary message its own ArrayBuffer: sliced from the batch's
          // buffer directly (0.4 µs, where a view's slice() takes 1.1), or
          // the whole buffer when the batch is this one message.
          const data = !binary[i] ? fromUtf8.decode(new Uint8Array(buffer, start, end - start))
            : count === 1 ? toArrayBuffer(payloads)
            : buffer.slice(start, end);
          ws.#received(binary[i], data);
        }
        start = end;
      }
      // The batch's own copy is garbage now: freed at once rather than at the
      // next collection, it is reused for the next batch, where otherwise
      // each batch's bytes grew the heap (and touched fresh memory) until the
      // malloc threshold triggered a GC. A lone binary message is the buffer.
      if (count > 1) buffer.transfer(0);
    };
    // The device is pulled, so the host pushes nothing here; the export
    // stays because the world has it, and routes an event all the same.
    const pushed = (socket, kind) => {
      newTurn();
      const ws = live.get(socket.id());
      if (ws !== undefined) deliver(ws, kind);
      return pendingFetches();
    };
    handler = {
      onOpen(socket) { return pushed(socket, { tag: 'open' }); },
      onMessage(socket, message) { return pushed(socket, { tag: 'message', val: message }); },
      onError(socket, error) { return pushed(socket, { tag: 'error', val: error }); },
      onClose(socket, info) { return pushed(socket, { tag: 'close', val: info }); },
    };
  }
}

// Has the host call `deliverEvents` while any socket is live (a watch keeps
// the host's loop, and so the program, running).
function watchEvents() {
  if (cancelEventWatch === null && live.size > 0) {
    cancelEventWatch = watchDeviceEvents(device, deliverEvents);
  }
}

// The pending events, a batch per call into the guest rather than one call
// each (each crossing costs more than handling a small message): the
// messages at the head of the queue packed (`take-packed`: the bindings
// lift a few flat lists, not an object per event; its kinds as bytes, which
// lift as one copy where a list of bools takes a loop), else every event with
// `update`. The host calls again while events are pending. Like Node's `ws`,
// the events of a batch are dispatched one after the other; promise jobs
// they queue run after the batch, not between its events as between a
// browser's tasks.
function deliverEvents() {
  const batch = device.takePacked();
  if (batch.lengths.length > 0) {
    packing = batch.lengths.length > 1;
    try {
      receivePacked(batch);
    } finally {
      packing = false;
      sendAllPacked();
    }
  } else {
    for (const { socket, kind } of device.update()) {
      const ws = live.get(socket);
      if (ws !== undefined) deliver(ws, kind);
    }
  }
  if (live.size === 0 && cancelEventWatch !== null) {
    cancelEventWatch();
    cancelEventWatch = null;
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

// WebIDL puts attributes and operations on the prototype as enumerable
// accessors and methods (class syntax makes them non-enumerable).
for (const cls of [WebSocket, MessageEvent, CloseEvent]) {
  for (const name of Object.getOwnPropertyNames(cls.prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(cls.prototype, name);
    if (name !== 'constructor' && descriptor.configurable) {
      Object.defineProperty(cls.prototype, name, { ...descriptor, enumerable: true });
    }
  }
}

// Named here, not by `cls.name`: a bundler may rename the bindings.
for (const [name, cls] of [['WebSocket', WebSocket], ['MessageEvent', MessageEvent], ['CloseEvent', CloseEvent]]) {
  Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  Object.defineProperty(globalThis, name, { value: cls, writable: true, configurable: true });
}

/**
 * The `wasi:cli/run` export: calls `start` with the command line (`args[0]` is
 * the program's name). Sockets and timers `start` creates live on after it
 * returns; the host then delivers their events, as a page's event loop. If
 * `start` throws, or is async and its promise rejects (then or later), the
 * error is printed and the program exits with status 1.
 */
export function main(start) {
  return {
    run() {
      newTurn();
      startEventLoop();
      let result;
      try {
        result = start(getArguments());
      } catch (error) {
        console.error(describe(error));
        throw error;
      }
      // Not awaited: `run` must return for the host to call back in (only
      // fetches in flight are waited for: see `pendingFetches`).
      if (typeof result?.then === 'function') {
        result.then(undefined, (error) => {
          console.error(`Uncaught (in promise) ${describe(error)}`);
          exit({ tag: 'err', val: undefined });
        });
      }
      return pendingFetches();
    },
  };
}

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

// close()'s checks: the code 1000 or in 3000-4999, the reason at most 123
// bytes of UTF-8. Returns them as the host takes them.
export function checkClose(caller, code, reason) {
  if (code !== undefined) {
    code = clampUint16(code);
    if (code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException(`${caller}: the code must be 1000 or in 3000-4999, not ${code}`, 'InvalidAccessError');
    }
  }
  if (reason !== undefined) {
    reason = toDOMString(reason).toWellFormed();
    if (utf8.encode(reason).length > 123) {
      throw new DOMException(`${caller}: the reason is longer than 123 bytes of UTF-8`, 'SyntaxError');
    }
  }
  return [code, reason];
}

// The constructor's URL steps: absolute, http(s) mapped to ws(s), ws or wss,
// no fragment (not even an empty one, hence the search for '#').
export function parseURL(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new DOMException(`WebSocket: '${url}' is not an absolute URL`, 'SyntaxError');
  }
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new DOMException(`WebSocket: the URL's scheme must be ws or wss, not '${parsed.protocol.slice(0, -1)}'`, 'SyntaxError');
  }
  if (parsed.href.includes('#')) {
    throw new DOMException('WebSocket: the URL must not have a fragment', 'SyntaxError');
  }
  return parsed;
}

// `protocols` is a string or a sequence of strings; each must be a token,
// and none may be offered twice (compared ASCII case-insensitively: tokens
// are ASCII).
export function parseProtocols(protocols) {
  const list = typeof protocols === 'object' && protocols !== null && typeof protocols[Symbol.iterator] === 'function'
    ? Array.from(protocols, toDOMString)
    : [toDOMString(protocols)];
  const offered = new Set();
  for (const protocol of list) {
    if (!TOKEN.test(protocol)) {
      throw new DOMException(`WebSocket: '${protocol}' is not a valid subprotocol`, 'SyntaxError');
    }
    const folded = protocol.toLowerCase();
    if (offered.has(folded)) {
      throw new DOMException(`WebSocket: the subprotocol '${protocol}' is offered twice`, 'SyntaxError');
    }
    offered.add(folded);
  }
  return list;
}

// send()'s argument as a WIT `message`: ArrayBuffer or a view's bytes as
// binary, anything else converted to a string (with lone surrogates replaced,
// as USVString does) as text.
function toMessage(data) {
  if (data instanceof ArrayBuffer) return { tag: 'binary', val: new Uint8Array(data) };
  if (ArrayBuffer.isView(data)) {
    return { tag: 'binary', val: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
  return { tag: 'text', val: toDOMString(data).toWellFormed() };
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
    if (room <= PACK_KEPT_BYTES) encoded = into;
  }
  return into.subarray(0, utf8.encodeInto(text, into).written);
}

function byteLength(message) {
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

// WebIDL's DOMString conversion: ToString, which (unlike `String()`) throws
// a TypeError for a Symbol.
function toDOMString(value) {
  return `${value}`;
}

// WebIDL `[Clamp] unsigned short`: clamped to 0..65535, rounded half to even.
function clampUint16(value) {
  const number = Number(value);
  if (Number.isNaN(number)) return 0;
  const clamped = Math.min(Math.max(number, 0), 65535);
  const rounded = Math.round(clamped);
  return rounded - clamped === 0.5 && rounded % 2 === 1 ? rounded - 1 : rounded;
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

// addEventListener's listener for `callback`: the same one for the same
// callback, so that adding twice and removing match the spec (native
// EventTarget compares the listeners it was given).
function listenerFor(callback) {
  if (callback === null || (typeof callback !== 'object' && typeof callback !== 'function')) {
    return callback; // null is ignored, a primitive is a TypeError: the native EventTarget decides
  }
  let listener = listeners.get(callback);
  if (listener === undefined) {
    listener = typeof callback === 'function'
      ? (event) => invoke(callback, event.currentTarget, event)
      : (event) => invoke(callback.handleEvent, callback, event);
    listeners.set(callback, listener);
  }
  return listener;
}

// Calls a listener; what it throws is reported and the dispatch goes on.
function invoke(callback, thisArg, event) {
  try {
    callback.call(thisArg, event);
  } catch (error) {
    reportException(error);
  }
}

function reportException(error) {
  console.error(`Uncaught ${describe(error)}`);
}

function describe(error) {
  return error instanceof Error && error.stack ? `${error}\n${error.stack.trimEnd()}` : String(error);
}
