// turbulenz.js: Turbulenz's `NetworkDevice` (a game's network layer) for
// componentize-js components, exported by `wit-websocket-guest/stream`.
// Nothing is delivered until the game calls `update()`: its device is pulled
// (device.js's `pulledDevice`), and it must not touch the WebSocket class's
// device or sockets.

import { pulledDevice } from './device.js';
import { parseURL } from './rules.js';
import { checkClose, parseProtocols } from './webidl.js';
import { connectOptions, describeErrorCode, encodeUtf8, errorCodeOf, messageOf, toArrayBuffer } from './wit-types.js';

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
    const href = parseURL(String(url), globalThis.location?.href).href;
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
