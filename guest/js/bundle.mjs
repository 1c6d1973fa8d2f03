// Bundles a JavaScript app with everything it imports, relative modules and
// npm packages alike, into one ES module for componentize-js, which resolves
// nothing itself beyond relative paths under its working directory. Imports
// of WIT interfaces (`wasi:…`, `wit-websocket:…`) stay imports: the
// component's bindings provide them.
//
//     node bundle.mjs ENTRY.js OUT.js
import { readFile } from 'node:fs/promises';
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
// The prelude runs before every module (libraries too): a worker's global
// scope and values that must be the run's (see worker/run-time.js), with the
// app's location as the build gives it (WIT_WEBSOCKET_LOCATION, from
// `guest/componentize --location`). Its parts share one block, in this order.
const PRELUDE = [
  'run-time.js',
  'early-bindings.js',
  'global-scope.js',
  'broadcast-channel.js',
  'fetch.js',
  'xml-http-request.js',
  'file-reader.js',
];
const sdk = new URL('.', import.meta.url);
const prelude = await Promise.all(PRELUDE.map((part) => readFile(new URL(`worker/${part}`, sdk), 'utf8')));
const { version } = JSON.parse(await readFile(new URL('package.json', sdk), 'utf8'));
const location = process.env.WIT_WEBSOCKET_LOCATION || 'http://localhost/';
if (!URL.canParse(location)) {
  console.error(`bundle: the location (guest/componentize --location, or WIT_WEBSOCKET_LOCATION) is not an absolute URL: '${location}'`);
  process.exit(2);
}
const banner = `{
const __WIT_WEBSOCKET_VERSION__ = ${JSON.stringify(version)};
const __WIT_WEBSOCKET_LOCATION__ = ${JSON.stringify(location)};
const __WIT_WEBSOCKET_FETCH__ = ${process.env.WIT_WEBSOCKET_FETCH === '1'};
${prelude.join('\n')}
}`;
// keepNames: a class renamed to avoid a clash keeps its `name`
// (`CloseEvent`, not `CloseEvent$1`), as the unbundled code has it.
// The source map lets build-error.mjs name the file and package a build-time
// exception came from.
await bundle.write({ file, format: 'esm', codeSplitting: false, keepNames: true, banner, sourcemap: true });
await bundle.close();
