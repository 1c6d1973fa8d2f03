// The bench's JavaScript client (`wit-websocket bench`, client `js`): the
// `bench` guest's echo workloads written as browser code, with the SDK's
// WebSocket class, through the host. It times itself with the monotonic clock.
//
// Usage: bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT], as the Rust bench
// guest (MODE is ignored: a browser-style app is always pushed its events).
// Prints `rtt-ns P50 P99` or `pipe-ns ELAPSED`.

import { now } from 'wasi:clocks/monotonic-clock@0.2.12';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main((args) => {
  if (args.length < 7) throw 'usage: bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT]';
  const [, , workload, url, countArg, sizeArg, windowArg, text] = args;
  const count = Number(countArg);
  const size = Number(sizeArg);
  const window = Number(windowArg);
  const payload =
    text === undefined
      ? new Uint8Array(size).fill(0x5a)
      : text.repeat(Math.ceil(size / text.length)).slice(0, size);
  const rtt = workload === 'rtt';
  const roundTrips = [];
  let sent = 0;
  let received = 0;
  let started = 0n;
  let lastSend = 0n;

  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const send = () => {
    sent += 1;
    lastSend = now();
    ws.send(payload);
  };
  ws.onopen = () => {
    started = now();
    const first = rtt ? 1 : Math.min(window, count);
    for (let i = 0; i < first; i += 1) send();
  };
  ws.onmessage = () => {
    received += 1;
    if (rtt) roundTrips.push(now() - lastSend);
    if (sent < count) {
      send();
    } else if (received === count) {
      if (rtt) {
        roundTrips.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const at = (q) => roundTrips[Math.floor((roundTrips.length - 1) * q)];
        console.log(`rtt-ns ${at(0.5)} ${at(0.99)}`);
      } else {
        console.log(`pipe-ns ${now() - started}`);
      }
      ws.close();
    }
  };
  ws.onerror = () => console.error('bench-js: the connection failed');
});
