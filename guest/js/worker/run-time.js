// The prelude: scripts bundle.mjs puts, in one block and in the order it
// lists them, before every bundled app, so they run before any module
// (libraries too) is evaluated, when the component is built (a Wizer
// snapshot). They import nothing and reach no host interface; what needs one
// is done by event-loop.js when the app starts (`GO_LIVE`). This part comes
// first: the helpers the others use (`global`, `define`, `isLive`), and the
// values that must be the run's.
//
// Module top levels run at build time, where the host's randomness cannot
// be reached. A library that keeps a reference to `Math.random` or
// `crypto.getRandomValues` at load (Yjs does, for its client id) would keep
// whatever stood there then: so what stands there is a function of ours for
// good. It draws from a seeded generator while the component is built and
// from the runtime's own (the host's `wasi:random`) once the app runs:
// every run and every instance gets its own values. Values computed at the
// top level (`const id = Math.random()`) are the build's, in every instance.

const global = globalThis;
// The one string both sides use: event-loop.js calls what is stored under
// it when the app starts (`run`).
const GO_LIVE = Symbol.for('wit-websocket.go-live');
const define = (target, name, value) =>
  Object.defineProperty(target, name, { value, writable: true, enumerable: false, configurable: true });

// Fires `event` at `target`: its `on<type>` attribute first, then its
// listeners (as an attribute set before any listener runs). A handler that
// throws is reported, and the rest still run, as in a browser.
const fire = (target, event) => {
  const handler = target[`on${event.type}`];
  if (typeof handler === 'function') {
    try {
      handler.call(target, event);
    } catch (error) {
      console.error(`Uncaught ${error}`);
    }
  }
  target.dispatchEvent(event);
};

// An interface's constants, on the class and its prototype, as WebIDL lays
// them out (`XMLHttpRequest.DONE`, `xhr.DONE`).
const defineConstants = (cls, constants) => {
  for (const [name, value] of Object.entries(constants)) {
    for (const target of [cls, cls.prototype]) {
      Object.defineProperty(target, name, { value, enumerable: true });
    }
  }
};

// Live: the app runs (the first export call started the event loop), or a
// native timer can be set, which StarlingMonkey refuses only at build
// time (for apps that export `run` without the SDK's `main`).
const nativeSetTimeout = global.setTimeout;
let live = false;
const isLive = () => {
  if (live) return true;
  try {
    nativeSetTimeout();
  } catch (error) {
    live = !/initiali[sz]ation/.test(String(error?.message));
  }
  return live;
};
define(global, GO_LIVE, () => {
  live = true;
});

// The build's stand-in: xorshift32 from a fixed seed.
let seed = 0x9e3779b9;
const next = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
};

const nativeRandom = Math.random;
define(Math, 'random', function random() {
  return isLive() ? nativeRandom() : next() / 4294967296;
});

const cryptoPrototype = global.crypto && Object.getPrototypeOf(global.crypto);
if (cryptoPrototype?.getRandomValues) {
  const nativeFill = cryptoPrototype.getRandomValues;
  const nativeUUID = cryptoPrototype.randomUUID;
  const fillFromSeed = (array) => {
    // The native's own checks, for the build's calls.
    const integers = ArrayBuffer.isView(array) && !(array instanceof DataView) &&
      !(array instanceof Float32Array) && !(array instanceof Float64Array);
    if (!integers) {
      throw new DOMException('getRandomValues: the array must be an integer typed array', 'TypeMismatchError');
    }
    if (array.byteLength > 65536) {
      throw new DOMException('getRandomValues: at most 65536 bytes at once', 'QuotaExceededError');
    }
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = next() & 0xff;
    return array;
  };
  define(cryptoPrototype, 'getRandomValues', {
    getRandomValues(array) {
      return isLive() ? nativeFill.call(this, array) : fillFromSeed(array);
    },
  }.getRandomValues);
  if (nativeUUID) {
    define(cryptoPrototype, 'randomUUID', {
      randomUUID() {
        if (isLive()) return nativeUUID.call(this);
        const bytes = fillFromSeed(new Uint8Array(16));
        bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // the RFC 4122 variant
        const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
        return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
      },
    }.randomUUID);
  }
}

// performance.now() has no time origin until the app runs (StarlingMonkey
// aborts the build): 0 stands for the build's moment.
if (global.performance?.now) {
  const performance = global.performance;
  const nativeNow = performance.now;
  define(performance, 'now', {
    now() {
      return isLive() ? nativeNow.call(performance) : 0;
    },
  }.now);
}
