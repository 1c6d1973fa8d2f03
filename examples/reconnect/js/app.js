// A client that stays connected: a heartbeat (`ping N`) every HEARTBEAT_MS
// and, when the connection is lost, a reconnection after an exponential
// backoff with jitter (BACKOFF_MS doubling up to 30 times it, each wait
// drawn between half and all of it), reset once connected. It stops after
// ECHOES heartbeats came back (0: never). Browser code: WebSocket, setInterval,
// setTimeout. The same program as examples/reconnect/rust and python.
//
// Build: guest/componentize examples/reconnect/js/app.js reconnect-js.wasm
// Run:   wit-websocket run --allow-net=HOST reconnect-js.wasm -- URL [HEARTBEAT_MS] [ECHOES] [BACKOFF_MS]
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

function reconnecting(url, heartbeatMs, echoesWanted, backoffMs) {
  let echoes = 0;
  let connections = 0;
  let attempts = 0; // failed attempts since the last connection
  const done = () => echoesWanted > 0 && echoes >= echoesWanted;

  function nextDelay() {
    const backoff = Math.min(backoffMs * 2 ** Math.min(attempts, 16), backoffMs * 30);
    attempts += 1;
    return Math.round(backoff * (0.5 + Math.random() / 2));
  }

  function connect() {
    const ws = new WebSocket(url);
    let heartbeat = null;
    ws.onopen = () => {
      attempts = 0;
      connections += 1;
      console.log(`connected ${connections}`);
      let sent = 0;
      heartbeat = setInterval(() => ws.send(`ping ${++sent}`), heartbeatMs);
    };
    ws.onmessage = (event) => {
      echoes += 1;
      console.log(`echo ${event.data}`);
      if (done()) {
        clearInterval(heartbeat);
        ws.close(1000, 'done');
      }
    };
    ws.onclose = (event) => {
      clearInterval(heartbeat);
      if (done()) {
        console.log(`done: ${echoes} echoes over ${connections} connections`);
        return;
      }
      const delay = nextDelay();
      console.log(`disconnected ${event.code}; reconnecting in ${delay} ms`);
      setTimeout(connect, delay);
    };
  }

  connect();
}

export const run = main((args) => {
  const [, url, heartbeat = '1000', echoes = '0', backoff = '1000'] = args;
  if (url === undefined) throw 'usage: reconnect URL [HEARTBEAT_MS] [ECHOES] [BACKOFF_MS]';
  reconnecting(url, Number(heartbeat), Number(echoes), Number(backoff));
});
