// An unmodified npm library written for browsers, bundled into a guest:
// reconnecting-websocket 4.4.0 (its module's top level calls Math.random(),
// which runs when the component is built). It finds the SDK's WebSocket on
// globalThis, and its timers are the SDK's.
//
// Usage: app URL. Prints the echo, then `closed`.
import ReconnectingWebSocket from 'reconnecting-websocket';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main((args) => {
  const ws = new ReconnectingWebSocket(args[1], [], { maxRetries: 0 });
  ws.addEventListener('open', () => ws.send('through reconnecting-websocket'));
  ws.addEventListener('message', (event) => {
    console.log(`echo: ${event.data}`);
    ws.close(1000);
  });
  ws.addEventListener('close', () => console.log('closed'));
});
