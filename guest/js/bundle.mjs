// Bundles a JavaScript app with everything it imports, relative modules and
// npm packages alike, into one ES module for componentize-js, which resolves
// nothing itself beyond relative paths under its working directory. Imports
// of WIT interfaces (`wasi:…`, `wit-websocket:…`) stay imports: the
// component's bindings provide them.
//
//     node bundle.mjs ENTRY.js OUT.js
import { rolldown } from 'rolldown';

const [input, file] = process.argv.slice(2);
if (!input || !file) {
  console.error('usage: node bundle.mjs ENTRY.js OUT.js');
  process.exit(2);
}
const bundle = await rolldown({
  input,
  // Packages' "browser" fields and export conditions: a component is closer
  // to a page than to Node (no `fs`, no `process`).
  platform: 'browser',
  external: /^[a-z][a-z0-9-]*:[a-z]/,
  logLevel: 'warn',
  // Every module's top level runs as written: an SDK module's side effects
  // (globalThis.WebSocket, the handler's static block) are what apps use.
  treeshake: false,
});
// Runs before every module: top-level code runs when the component is built
// (a Wizer snapshot), where the host's randomness cannot be reached, and
// Math.random() or crypto.getRandomValues() there (as some npm libraries
// do, e.g. reconnecting-websocket) would fail the build. Until `run` starts
// (event-loop.js restores the real ones) a seeded generator stands in: values
// drawn at the top level are the same in every run; draw them from `run` on
// for real randomness.
const banner = `{
  const realRandom = Math.random;
  const realFill = globalThis.crypto?.getRandomValues;
  let seed = 0x9e3779b9;
  const next = () => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return seed >>> 0;
  };
  Math.random = () => next() / 4294967296;
  if (realFill) {
    globalThis.crypto.getRandomValues = (array) => {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i += 1) bytes[i] = next() & 0xff;
      return array;
    };
  }
  globalThis[Symbol.for('wit-websocket.build-time-randomness')] = () => {
    Math.random = realRandom;
    if (realFill) globalThis.crypto.getRandomValues = realFill;
  };
}`;
// keepNames: a class renamed to avoid a clash keeps its `name`
// (`CloseEvent`, not `CloseEvent$1`), as the unbundled code has it.
await bundle.write({ file, format: 'esm', codeSplitting: false, keepNames: true, banner });
await bundle.close();
