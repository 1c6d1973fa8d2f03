// The browser's timers (HTML "Timers": setTimeout, setInterval, clearTimeout,
// clearInterval) on the host's event loop, for componentize-js components.
//
// StarlingMonkey runs its own event loop only inside an export call, until
// that call's promise settles, so its native timers never fire once `run`
// has returned. These run on the host's loop instead: every timer waits in
// one queue here (earliest deadline first, equal deadlines in the order they
// were set), and the host is asked to wake the guest (`network-device.watch`
// of a monotonic-clock pollable) for the earliest. Each timer runs in an
// export call of its own, so promise jobs queued by one settle before the
// next runs, as after each task in a browser.
//
// Other modules watch pollables here too (`watch`), e.g. a socket's room to
// send; the host calls `watchHandler.onReady` for each.

import { NetworkDevice } from 'wit-websocket:client/network@0.1.6';
import { getEnvironment } from 'wasi:cli/environment@0.2.12';
import { now, subscribeDuration } from 'wasi:clocks/monotonic-clock@0.2.12';

const NS_PER_MS = 1_000_000n;

// The device the watches are made on, made on first use (never at build
// time: the module's top level runs when the component is built).
let device = null;
// False until `run` starts: timers set at build time wait for it.
let started = false;

// Watch id → its callback.
const watches = new Map();

/**
 * Calls `callback` once `pollable` is ready (the host drops the pollable
 * then). Returns a function that cancels the watch. The pollable must not be
 * used after.
 */
export function watch(pollable, callback) {
  device ??= new NetworkDevice();
  const id = device.watch(pollable);
  watches.set(id, callback);
  return () => {
    if (watches.delete(id)) device.unwatch(id);
  };
}

/**
 * Calls `callback` whenever `events` (a network device) has events pending,
 * until cancelled by the function returned; the device's events are no
 * longer pushed one callback each (`network-device.watch-events`).
 */
export function watchEvents(events, callback) {
  const id = events.watchEvents();
  lasting.add(id);
  watches.set(id, callback);
  return () => {
    lasting.delete(id);
    if (watches.delete(id)) events.unwatch(id);
  };
}

// The ids of the watches that fire until cancelled.
const lasting = new Set();

// Each call into the guest is one turn of the event loop (its promise jobs
// run at its end): values the HTML spec takes "as of the last time the event
// loop reached step 1", as `bufferedAmount`, are kept per turn.
let turn = 0;

/** The current turn of the event loop; a new one starts with each call in. */
export function currentTurn() {
  return turn;
}

/** Starts a turn (each export does, before anything else). */
export function newTurn() {
  turn += 1;
}

/** The WIT `watch-handler` export: re-export it from the component's entry. */
export const watchHandler = {
  onReady(id) {
    newTurn();
    const callback = watches.get(id);
    if (!lasting.has(id)) watches.delete(id);
    callback?.();
    return pendingFetches();
  },
};

// fetch (when the component is built with it, `guest/componentize --fetch`)
// runs on StarlingMonkey's own event loop, which turns only inside an export
// call that returned a promise, until it settles, and aborts if it cannot.
// So every export returns, while a fetch or a body read is in flight, a
// promise that settles once none is: the fetch completes within the call
// that started it (or the next), and code awaiting socket events does not
// hold the call open.
let inflight = 0;
let idle = [];

function tracked(promise) {
  inflight += 1;
  const done = () => {
    inflight -= 1;
    if (inflight === 0) for (const resolve of idle.splice(0)) resolve();
  };
  promise.then(done, done);
  return promise;
}

if (typeof globalThis.fetch === 'function') {
  const fetch = globalThis.fetch;
  globalThis.fetch = function (...args) {
    return tracked(fetch.apply(this, args));
  };
  if (typeof globalThis.Response === 'function') {
    for (const method of ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text']) {
      const read = Response.prototype[method];
      if (typeof read !== 'function') continue;
      Object.defineProperty(Response.prototype, method, {
        value(...args) { return tracked(read.apply(this, args)); },
        writable: true,
        configurable: true,
      });
    }
  }
}

/**
 * What an export returns: nothing when no fetch is in flight, else a promise
 * that settles when none is (a few microtask turns after the last, so a
 * continuation that starts another fetch is waited for too).
 */
export function pendingFetches() {
  if (inflight === 0) return undefined;
  return (async () => {
    while (inflight > 0) {
      await new Promise((resolve) => idle.push(resolve));
      for (let turn = 0; turn < 4; turn += 1) await null;
    }
  })();
}

// Pending timers, by id; and the same sorted by (deadline, id).
const timers = new Map();
const queue = [];
let nextId = 1;
// The watch that stands for the earliest timer: { cancel, deadline }.
let armed = null;

function before(a, b) {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.id < b.id);
}

function enqueue(timer) {
  let low = 0;
  let high = queue.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (before(queue[middle], timer)) low = middle + 1;
    else high = middle;
  }
  queue.splice(low, 0, timer);
}

// Makes the host watch stand for the earliest timer.
function arm() {
  if (!started) return;
  const earliest = queue[0];
  if (armed !== null && earliest !== undefined && armed.deadline === earliest.deadline) return;
  armed?.cancel();
  armed = null;
  if (earliest === undefined) return;
  const wait = earliest.deadline - now();
  const deadline = earliest.deadline;
  armed = { deadline, cancel: watch(subscribeDuration(wait > 0n ? wait : 0n), fire) };
}

// Runs the earliest timer if it is due (one per host callback: see above).
function fire() {
  armed = null;
  const timer = queue[0];
  if (timer !== undefined && timer.deadline <= now()) {
    queue.shift();
    if (timer.repeat) {
      timer.deadline = now() + timer.delay;
      enqueue(timer);
    } else {
      timers.delete(timer.id);
    }
    try {
      timer.callback(...timer.args);
    } catch (error) {
      console.error(`Uncaught ${error instanceof Error && error.stack ? `${error}\n${error.stack.trimEnd()}` : error}`);
    }
  }
  arm();
}

// The timeout in nanoseconds, as HTML normalizes it: not a number or
// negative means 0.
function delayOf(timeout) {
  const ms = Number(timeout);
  return BigInt(Math.trunc(Number.isFinite(ms) && ms > 0 ? Math.min(ms, 2 ** 31 - 1) : 0)) * NS_PER_MS;
}

function schedule(handler, timeout, args, repeat, id = nextId++) {
  // A string handler is script, as in a browser.
  const callback = typeof handler === 'function' ? handler : () => (0, eval)(String(handler));
  const delay = delayOf(timeout);
  const timer = { id, callback, args, repeat, delay, deadline: (started ? now() : 0n) + delay };
  timers.set(id, timer);
  enqueue(timer);
  arm();
  return id;
}

function clear(id) {
  const timer = timers.get(Number(id));
  if (timer === undefined) return;
  timers.delete(timer.id);
  queue.splice(queue.indexOf(timer), 1);
  arm();
}

/** HTML's `setTimeout(handler, timeout, ...args)`. */
export function setTimeout(handler, timeout = 0, ...args) {
  return schedule(handler, timeout, args, false);
}

/** HTML's `setInterval(handler, timeout, ...args)`. */
export function setInterval(handler, timeout = 0, ...args) {
  return schedule(handler, timeout, args, true);
}

/** HTML's `clearTimeout(id)`. */
export function clearTimeout(id) {
  clear(id);
}

/** HTML's `clearInterval(id)` (the same list as `clearTimeout`). */
export function clearInterval(id) {
  clear(id);
}

/** Called when `run` starts: timers set at build time start counting now. */
export function startEventLoop() {
  if (started) return;
  started = true;
  // Randomness and time from the host from now on, and the location the
  // run gives (see worker/run-time.js and worker/global-scope.js).
  globalThis[Symbol.for('wit-websocket.go-live')]?.();
  const location = getEnvironment().find(([name]) => name === 'WIT_WEBSOCKET_LOCATION')?.[1];
  if (location !== undefined) {
    try {
      globalThis[Symbol.for('wit-websocket.set-location')]?.(location);
    } catch {
      console.error(`WIT_WEBSOCKET_LOCATION is not an absolute URL: '${location}'; location stays ${globalThis.location}`);
    }
  }
  const start = now();
  for (const timer of queue) timer.deadline += start;
  arm();
}

// What was set before this module was evaluated (see worker/early-bindings.js), with
// the ids it was given, then every timer from here on.
const early = globalThis[Symbol.for('wit-websocket.take-over-timers')]?.({ setTimeout, setInterval, clearTimeout });
early?.forEach(({ handler, timeout, args, repeat, cleared }, index) => {
  if (!cleared) schedule(handler, timeout, args, repeat, index + 1);
});
nextId = Math.max(nextId, (early?.length ?? 0) + 1);
Object.assign(globalThis, { setTimeout, setInterval, clearTimeout, clearInterval });
