// partysocket (its reconnecting WebSocket), unchanged from npm, through
// what its users touch first: open, text and binary messages, a reconnect
// after the server drops the connection (messages sent meanwhile are kept
// and sent once open), and a clean close.
//
// Usage: app WS_URL (an echo server: tests/guests/js-partysocket/server.mjs)

import { WebSocket as ReconnectingWebSocket } from 'partysocket';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main((args) => {
  const ws = new ReconnectingWebSocket(args[1], [], { minReconnectionDelay: 50, maxReconnectionDelay: 100 });
  ws.binaryType = 'arraybuffer';
  let opens = 0;
  ws.addEventListener('open', () => {
    opens += 1;
    console.log(`open ${opens}`);
    if (opens === 1) {
      ws.send('hello');
      ws.send(new Uint8Array([0, 1, 2, 254, 255]));
    }
  });
  ws.addEventListener('message', (event) => {
    const shown = typeof event.data === 'string' ? event.data : [...new Uint8Array(event.data)].join(',');
    console.log(`message ${shown}`);
    if (shown === '0,1,2,254,255') {
      ws.send('drop');
      // Sent while the connection is down: kept until it is open again.
      setTimeout(() => ws.send('after the drop'), 20);
    }
    if (shown === 'after the drop') ws.close(1000, 'done');
  });
  // After an error event partysocket dispatches a clone of a close event of
  // its own making, whose code is not a number (in a browser too).
  ws.addEventListener('close', (event) => console.log(`close ${Number.isInteger(event.code) ? event.code : 'without a code'}`));
});
