// rpc-websockets 10, unchanged from npm (its browser build, which reaches
// the WebSocket class as `window.WebSocket`), through what its users touch
// first: calls and their results, an error result, a subscribed event, a
// reconnect after the server drops the connection, and a clean close.
//
// Usage: app RPC_WS_URL (its own Server: tests/guests/js-rpc/server.mjs)

import { Client } from 'rpc-websockets';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main((args) => {
  const client = new Client(args[1], { reconnect_interval: 100, max_reconnects: 3 });
  let opens = 0;
  client.on('open', async () => {
    opens += 1;
    console.log(`open ${opens}`);
    if (opens === 1) {
      console.log(`sum ${await client.call('sum', [2, 40])}`);
      try {
        await client.call('fail');
      } catch (error) {
        console.log(`fail ${error.code} ${error.message} ${error.data}`);
      }
      await client.subscribe('ticked');
      client.on('ticked', ({ n }) => console.log(`ticked ${n}`));
      await client.call('tick', [7]);
      await client.call('drop');
    } else {
      console.log(`sum again ${await client.call('sum', [1, 1])}`);
      client.close(1000, 'done');
    }
  });
  client.on('close', (code) => console.log(`close ${code}`));
  client.on('error', (error) => console.log(`error ${error?.message ?? error?.type ?? error}`));
});
