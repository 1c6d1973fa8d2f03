// Part of the prelude (see run-time.js): one block with the other parts, in
// the order bundle.mjs lists them.
// BroadcastChannel, within the one instance (a worker's reaches the other
// contexts of its origin; an instance has no others): a message posted on
// one channel reaches every other open channel of the same name, as a
// structured clone, in a task of its own.
const channels = new Map(); // name → the open channels of that name
class BroadcastChannel extends EventTarget {
  #name;
  #closed = false;
  constructor(name) {
    if (arguments.length === 0) throw new TypeError("BroadcastChannel constructor: At least 1 argument required");
    super();
    this.#name = String(name);
    if (!channels.has(this.#name)) channels.set(this.#name, new Set());
    channels.get(this.#name).add(this);
    this.onmessage = null;
    this.onmessageerror = null;
  }
  get name() {
    return this.#name;
  }
  postMessage(message) {
    if (this.#closed) throw new DOMException('BroadcastChannel.postMessage: the channel is closed', 'InvalidStateError');
    const data = structuredClone(message);
    for (const channel of channels.get(this.#name) ?? []) {
      if (channel === this) continue;
      global.setTimeout(() => channel.#deliver(structuredClone(data)), 0);
    }
  }
  #deliver(data) {
    if (this.#closed) return;
    fire(this, new global.MessageEvent('message', { data, origin: global.origin }));
  }
  close() {
    this.#closed = true;
    channels.get(this.#name)?.delete(this);
  }
  get [Symbol.toStringTag]() {
    return 'BroadcastChannel';
  }
}
define(global, 'BroadcastChannel', BroadcastChannel);
