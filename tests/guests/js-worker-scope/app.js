// What a library sees of its environment, and the values it draws from it,
// when it takes them at load (at build time: a Wizer snapshot) and calls
// them at run time. Prints one JSON object.
//
// Usage: app

import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

// As libraries keep them: lib0 binds getRandomValues and keeps Math.random
// at load (Yjs' client id comes from there).
const random = Math.random;
const fill = crypto.getRandomValues.bind(crypto);
const uuid = crypto.randomUUID.bind(crypto);
const performanceNow = performance.now.bind(performance);
const dateNow = Date.now;
// Drawn at load: the build's values, in every run.
const drawnAtLoad = Math.random();
const builtAt = Date.now();

// A WebSocket's URL, resolved against location; closed before it connects.
function relativeURL(url) {
  const ws = new WebSocket(url);
  ws.onerror = () => {}; // failed by the close below: expected
  ws.close();
  return ws.url;
}

export const run = main(() => {
  const words = fill(new Uint32Array(2));
  console.log(JSON.stringify({
    random: random(),
    words: [...words],
    uuid: uuid(),
    randomNow: Math.random(),
    drawnAtLoad,
    runsAfterBuild: dateNow() >= builtAt,
    performanceNow: performanceNow(),
    self: self === globalThis,
    worker: typeof WorkerGlobalScope === 'function' && self instanceof WorkerGlobalScope,
    constructor: self.constructor.name,
    tag: Object.prototype.toString.call(self),
    window: typeof window === 'object' && window === self,
    document: typeof document,
    buffer: typeof Buffer,
    process: typeof process,
    userAgent: navigator.userAgent,
    onLine: navigator.onLine,
    language: navigator.language,
    location: location.href,
    search: location.search,
    origin,
    secure: isSecureContext,
    relative: relativeURL('/chat?room=1'),
  }));
});
