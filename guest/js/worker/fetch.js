// Part of the prelude (see run-time.js): one block with the other parts, in
// the order bundle.mjs lists them.
//
// `fetch` in a component built without wasi:http (guest/componentize
// without --fetch): StarlingMonkey still defines it, and a call traps the
// guest, which no library can catch. A rejected promise instead, as a page
// without network gives, saying how to build with it.
if (typeof __WIT_WEBSOCKET_FETCH__ === 'boolean' && !__WIT_WEBSOCKET_FETCH__) {
  define(global, 'fetch', {
    fetch(input) {
      return Promise.reject(new TypeError(
        `fetch(${JSON.stringify(String(input?.url ?? input))}): this component was built without fetch (guest/componentize --fetch)`,
      ));
    },
  }.fetch);
}
