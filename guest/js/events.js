// events.js: the DOM's side of events: MessageEvent and CloseEvent, the fix
// to the runtime's EventTarget (listeners called with the event's
// currentTarget; what they throw reported), event handler attributes
// (`onmessage`, ...), and reporting an exception. Importing it patches
// EventTarget.prototype and puts the two event classes on globalThis; it
// makes no host calls.

import { exposeInterface, toDOMString } from './webidl.js';

// addEventListener's callbacks → the listener registered for each (see
// `listenerFor`).
const listeners = new WeakMap();

// MessageEvent's factory for received messages (see its static block).
export let messageEvent;

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

exposeInterface('MessageEvent', MessageEvent);
exposeInterface('CloseEvent', CloseEvent);

// HTML's event handler attributes (`onopen`, ...), each target's kept in a
// map of its own, `handlers` (type → { callback, listener }): one's value.
export function eventHandler(handlers, type) {
  return handlers.get(type)?.callback ?? null;
}

// Sets one of `target`'s: the first non-null value registers a listener,
// which keeps its place among the others while the value changes; null (or
// any non-function) removes it.
export function setEventHandler(target, handlers, type, value) {
  const slot = handlers.get(type);
  if (typeof value !== 'function') {
    if (slot) {
      nativeRemoveEventListener.call(target, type, slot.listener);
      handlers.delete(type);
    }
  } else if (slot) {
    slot.callback = value;
  } else {
    const added = { callback: value, listener: (event) => invoke(added.callback, target, event) };
    handlers.set(type, added);
    nativeAddEventListener.call(target, type, added.listener);
  }
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

export function reportException(error) {
  console.error(`Uncaught ${describe(error)}`);
}

// An error as printed: its message and stack.
export function describe(error) {
  return error instanceof Error && error.stack ? `${error}\n${error.stack.trimEnd()}` : String(error);
}
