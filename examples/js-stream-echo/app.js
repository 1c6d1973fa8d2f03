// The echo example with WebSocketStream (the WHATWG explainer's API): await
// `opened`, write through the writable, read the echoes from the readable,
// close, and await `closed`.
//
// Build: guest/componentize examples/js-stream-echo/app.js js-stream-echo.wasm
// Run:   wit-websocket run --allow-net=HOST js-stream-echo.wasm -- URL
import { main } from '../../guest/js/websocket.js';
import { WebSocketStream } from '../../guest/js/websocket-stream.js';

export { handler, watchHandler } from '../../guest/js/websocket.js';

export const run = main(async (args) => {
  if (args.length !== 2) throw 'usage: js-stream-echo URL';
  const wss = new WebSocketStream(args[1]);
  const { readable, writable, extensions } = await wss.opened;
  console.log(`open: ${wss.url}${extensions ? ` (${extensions})` : ''}`);
  const writer = writable.getWriter();
  const reader = readable.getReader();
  await writer.write('hello from a stream');
  await writer.write(new Uint8Array([1, 2, 3]));
  for (let i = 0; i < 2; i++) {
    const { value } = await reader.read();
    console.log(typeof value === 'string' ? `echo: ${value}` : `echo: ${value.byteLength} bytes`);
  }
  wss.close({ closeCode: 1000, reason: 'done' });
  const { closeCode, reason } = await wss.closed;
  console.log(`close: ${closeCode} ${reason}`);
});
