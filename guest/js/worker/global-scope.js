// Part of the prelude (see run-time.js): one block with the other parts, in
// the order bundle.mjs lists them.
//
// A dedicated worker's global scope. Libraries recognise a worker by its
// global (`self instanceof WorkerGlobalScope`, `self.constructor.name`),
// `navigator` and `location`; with those they take their browser paths,
// which use the WebSocket class.

// The worker's global scope's interfaces.
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
// The global keeps its own prototype: given these classes' prototypes
// (Object.setPrototypeOf), every global name lookup in the guest got slower
// (the bench's JavaScript echo: CPU per MiB 3.5x native's before, 4.1x
// after, 3.4x without). So it looks the part instead: its constructor, its
// class string, and `instanceof` answered by the interfaces.
define(global, 'constructor', DedicatedWorkerGlobalScope);
define(global, Symbol.toStringTag, 'DedicatedWorkerGlobalScope');
for (const cls of [WorkerGlobalScope, DedicatedWorkerGlobalScope]) {
  Object.defineProperty(cls, Symbol.hasInstance, {
    value(value) {
      return value === global || Function.prototype[Symbol.hasInstance].call(this, value);
    },
    configurable: true,
  });
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
