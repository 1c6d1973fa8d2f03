// Part of the prelude (see run-time.js): one block with the other parts, in
// the order bundle.mjs lists them.
//
// What a library imported before the SDK keeps at load: timers that work,
// and the SDK's classes.

// Timers: StarlingMonkey's refuse to be set while the component is built
// and never fire once `run` has returned; the SDK's (event-loop.js) run on
// the host's loop. A library whose module is evaluated before the SDK's
// (it was imported first) gets these: they keep what it sets until the
// SDK takes over, then pass everything on, also when the library kept a
// reference (a `process.nextTick` polyfill's first tick would otherwise
// never come, and with it none after).
let timers = null; // event-loop.js's, once it takes over
const early = [];
const setter = (repeat) => (handler, timeout = 0, ...args) => {
  if (timers !== null) return (repeat ? timers.setInterval : timers.setTimeout)(handler, timeout, ...args);
  early.push({ handler, timeout, args, repeat, cleared: false });
  return early.length; // the SDK keeps these ids
};
const clearer = (id) => {
  if (timers !== null) return timers.clearTimeout(id);
  const timer = early[Number(id) - 1];
  if (timer !== undefined) timer.cleared = true;
};
const setTimeoutEarly = setter(false);
const setIntervalEarly = setter(true);
define(global, 'setTimeout', { setTimeout: (...a) => setTimeoutEarly(...a) }.setTimeout);
define(global, 'setInterval', { setInterval: (...a) => setIntervalEarly(...a) }.setInterval);
define(global, 'clearTimeout', { clearTimeout: (id) => clearer(id) }.clearTimeout);
define(global, 'clearInterval', { clearInterval: (id) => clearer(id) }.clearInterval);
define(global, Symbol.for('wit-websocket.take-over-timers'), (sdk) => {
  timers = sdk;
  return early;
});

// The classes the SDK defines, for a library whose module is evaluated
// before the SDK's and keeps one at load (engine.io-client keeps
// `WebSocket`): until the SDK defines it, a forwarder stands in; from then
// on the global is the SDK's class, and the forwarder a kept reference
// holds constructs it, `instanceof` it holds, and its statics are the
// class's.
const forwarders = new Map();
for (const name of ['WebSocket', 'MessageEvent', 'CloseEvent']) {
  let real = null;
  const forwarder = {
    [name]: function (...args) {
      if (new.target === undefined) throw new TypeError(`${name} constructor: 'new' is required`);
      if (real === null) throw new TypeError(`${name}: the SDK's module has not been evaluated yet`);
      return Reflect.construct(real, args, new.target === forwarder ? real : new.target);
    },
  }[name];
  forwarders.set(name, (cls) => {
    real = cls;
    forwarder.prototype = cls.prototype;
    Object.setPrototypeOf(forwarder, cls);
  });
  define(global, name, forwarder);
}
define(global, Symbol.for('wit-websocket.define-class'), (name, cls) => forwarders.get(name)?.(cls));
