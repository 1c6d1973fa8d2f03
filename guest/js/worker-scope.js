// worker-scope.js: the global scope of a browser's dedicated worker, and
// values that must be live at run time. Not a module: bundle.mjs puts it
// before every bundled app, so it runs before any module (libraries too)
// evaluates, when the component is built (a Wizer snapshot). It imports
// nothing and reaches no host interface; what needs one (the location given
// at run time) is done by event-loop.js through `GO_LIVE`.
//
// Libraries recognise a worker by its global (`self instanceof
// WorkerGlobalScope`, `self.constructor.name`), `navigator` and `location`;
// with those they take their browser paths, which use the WebSocket class.
//
// Module top levels run at build time, where the host's randomness cannot
// be reached. A library that keeps a reference to `Math.random` or
// `crypto.getRandomValues` at load (Yjs does, for its client id) would keep
// whatever stood there then: so what stands there is a function of ours for
// good. It draws from a seeded generator while the component is built and
// from the runtime's own (the host's `wasi:random`) once the app runs:
// every run and every instance gets its own values. Values computed at the
// top level (`const id = Math.random()`) are the build's, in every instance.
{
  const global = globalThis;
  // The one string both sides use: event-loop.js calls what is stored under
  // it when the app starts (`run`).
  const GO_LIVE = Symbol.for('wit-websocket.go-live');
  const define = (target, name, value) =>
    Object.defineProperty(target, name, { value, writable: true, enumerable: false, configurable: true });

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
    // A property of the instance (an older banner set one) would hide these.
    delete global.crypto.getRandomValues;
    delete global.crypto.randomUUID;
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

  // The worker's global scope: its interfaces, and the global's prototype
  // chain through them, as a dedicated worker's is.
  class WorkerGlobalScope extends EventTarget {
    constructor() {
      throw new TypeError('Illegal constructor');
    }
    get [Symbol.toStringTag]() {
      return 'WorkerGlobalScope';
    }
  }
  class DedicatedWorkerGlobalScope extends WorkerGlobalScope {
    get [Symbol.toStringTag]() {
      return 'DedicatedWorkerGlobalScope';
    }
  }
  define(global, 'WorkerGlobalScope', WorkerGlobalScope);
  define(global, 'DedicatedWorkerGlobalScope', DedicatedWorkerGlobalScope);
  try {
    Object.setPrototypeOf(global, DedicatedWorkerGlobalScope.prototype);
  } catch {
    // A global whose prototype is fixed: at least its constructor says so.
    define(global, 'constructor', DedicatedWorkerGlobalScope);
  }

  // `window`: a worker has none, but browser builds of some libraries (e.g.
  // rpc-websockets) reach the WebSocket class as `window.WebSocket`. The
  // global is what `window` names on a page; with no `document` beside it,
  // libraries that test for a page (`window.document`) still see a worker.
  define(global, 'window', global);

  // `navigator`: a worker's (WorkerNavigator).
  const version = typeof __WIT_WEBSOCKET_VERSION__ === 'string' ? __WIT_WEBSOCKET_VERSION__ : '0';
  class WorkerNavigator {
    constructor() {
      throw new TypeError('Illegal constructor');
    }
    get userAgent() {
      return `Mozilla/5.0 (WebAssembly; WASI) wit-websocket/${version} StarlingMonkey`;
    }
    get appCodeName() {
      return 'Mozilla';
    }
    get appName() {
      return 'Netscape';
    }
    get appVersion() {
      return `5.0 (WebAssembly; WASI) wit-websocket/${version}`;
    }
    get platform() {
      return '';
    }
    get product() {
      return 'Gecko';
    }
    get language() {
      return 'en-US';
    }
    get languages() {
      return ['en-US', 'en'];
    }
    get onLine() {
      return true;
    }
    get hardwareConcurrency() {
      return 1;
    }
    get [Symbol.toStringTag]() {
      return 'WorkerNavigator';
    }
  }
  const navigator = Object.create(WorkerNavigator.prototype);
  define(global, 'WorkerNavigator', WorkerNavigator);
  Object.defineProperty(global, 'navigator', { get: () => navigator, enumerable: true, configurable: true });

  // `location`: a worker's (WorkerLocation), the app's URL: given at build
  // time (`guest/componentize --location`), replaced at run time by the
  // WIT_WEBSOCKET_LOCATION environment variable (event-loop.js), else
  // http://localhost/. Readable always: StarlingMonkey's own traps at run
  // time unless the component was built with one.
  let url = new URL(typeof __WIT_WEBSOCKET_LOCATION__ === 'string' ? __WIT_WEBSOCKET_LOCATION__ : 'http://localhost/');
  class WorkerLocation {
    constructor() {
      throw new TypeError('Illegal constructor');
    }
    get href() { return url.href; }
    get origin() { return url.origin; }
    get protocol() { return url.protocol; }
    get host() { return url.host; }
    get hostname() { return url.hostname; }
    get port() { return url.port; }
    get pathname() { return url.pathname; }
    get search() { return url.search; }
    get hash() { return url.hash; }
    toString() { return url.href; }
    get [Symbol.toStringTag]() {
      return 'WorkerLocation';
    }
  }
  const location = Object.create(WorkerLocation.prototype);
  define(global, 'WorkerLocation', WorkerLocation);
  Object.defineProperty(global, 'location', { get: () => location, enumerable: true, configurable: true });
  define(global, Symbol.for('wit-websocket.set-location'), (href) => {
    url = new URL(href);
  });
  Object.defineProperty(global, 'origin', { get: () => url.origin, enumerable: true, configurable: true });
  // A component is a trusted context: what browsers keep for secure
  // contexts (crypto.subtle, randomUUID) is here.
  define(global, 'isSecureContext', true);
}
