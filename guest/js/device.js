// device.js: the network devices. The WebSocket class's one device, made on
// first use, with every live socket by the host's id and the dispatch of
// their events (`deliverEvents`, and the `handler` export); and the pulled
// devices WebSocketStream and NetworkDevice make for themselves. It knows
// sockets only through what the WebSocket class registers: it must not
// import websocket.js (that would be a cycle).

import { NetworkDevice } from 'wit-websocket:client/network@0.1.6';
import { newTurn, pendingFetches, watchEvents as watchDeviceEvents } from './event-loop.js';
import { receivePacked } from './packed.js';

// The one network device, made on first use (never at build time). Its
// events are not pushed one callback each: while a socket is live, the host
// calls in once whenever events are pending, and `deliverEvents` takes them
// all with one `update`.
let device = null;
// Cancels that (`watchEvents`); null while no socket is live.
let cancelEventWatch = null;

/**
 * Every WebSocket from creation to its close event, by the host's socket id:
 * the host names sockets by id in its callbacks, and holding the WebSocket
 * here keeps its owned handle alive (dropping that would destroy the socket).
 */
export const live = new Map();

/**
 * True while `deliverEvents` dispatches several messages: sends are packed
 * then (see WebSocket's #transmit), and all go at the batch's end.
 */
export let packing = false;

// What the WebSocket class gives (`registerWebSocket`): one event to a
// socket (its #deliver), one received message to a socket (for
// receivePacked), and the sending of every socket's packed messages.
let deliver;
let received;
let sendAllPacked;

/**
 * Called once, from WebSocket's static block (the only place its private
 * members can be reached from): the class and this dispatcher need each
 * other, and the class imports this module, not the reverse.
 */
export function registerWebSocket(functions) {
  ({ deliver, received, sendAllPacked } = functions);
}

/** The WebSocket class's device, made on first use. */
export function socketDevice() {
  device ??= new NetworkDevice();
  return device;
}

/** A device of its own whose events the host leaves for `update` (never pushed). */
export function pulledDevice() {
  const pulled = new NetworkDevice();
  pulled.setPush(false);
  return pulled;
}

/**
 * Has the host call `deliverEvents` while any socket is live (a watch keeps
 * the host's loop, and so the program, running).
 */
export function watchEvents() {
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
      receivePacked(batch, live, received);
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

// The device is pulled, so the host pushes nothing here; the export
// stays because the world has it, and routes an event all the same.
function pushed(socket, kind) {
  newTurn();
  const ws = live.get(socket.id());
  if (ws !== undefined) deliver(ws, kind);
  return pendingFetches();
}

/** The WIT `handler` export: re-export it (from websocket.js) in the component's entry. */
export const handler = {
  onOpen(socket) { return pushed(socket, { tag: 'open' }); },
  onMessage(socket, message) { return pushed(socket, { tag: 'message', val: message }); },
  onError(socket, error) { return pushed(socket, { tag: 'error', val: error }); },
  onClose(socket, info) { return pushed(socket, { tag: 'close', val: info }); },
};
