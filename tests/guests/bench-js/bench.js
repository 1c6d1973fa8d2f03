// The bench's JavaScript client (`wit-websocket bench`, client `js`): the
// `bench` guest's echo workloads written as browser code, with the SDK's
// WebSocket class, through the host. It times itself with the monotonic clock.
//
// Usage: bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT], as the Rust bench
// guest: MODE `async` is WebSocketStream (awaited reads and writes), any other
// the WebSocket class's pushed events; WORKLOAD `timer` is `pipe` with a
// 10 ms setInterval beside it. Prints `rtt-ns P50 P99` or `pipe-ns ELAPSED`
// (and `lateness-ns P50 P99` for `timer`).

import { now } from 'wasi:clocks/monotonic-clock@0.2.12';
import { main } from '../../../guest/js/websocket.js';
import { WebSocketStream } from '../../../guest/js/websocket-stream.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

const percentile = (sorted, q) => sorted[Math.floor((sorted.length - 1) * q)];
const byValue = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

async function echoStream(url, rtt, payload, count, window) {
  const wss = new WebSocketStream(url);
  const { readable, writable } = await wss.opened;
  const reader = readable.getReader();
  const writer = writable.getWriter();
  const started = now();
  if (rtt) {
    const roundTrips = [];
    for (let i = 0; i < count; i += 1) {
      const sentAt = now();
      await writer.write(payload);
      await reader.read();
      roundTrips.push(now() - sentAt);
    }
    roundTrips.sort(byValue);
    console.log(`rtt-ns ${percentile(roundTrips, 0.5)} ${percentile(roundTrips, 0.99)}`);
  } else {
    let sent = Math.min(window, count);
    for (let i = 0; i < sent; i += 1) writer.write(payload);
    for (let i = 0; i < count; i += 1) {
      await reader.read();
      if (sent < count) {
        await writer.ready;
        writer.write(payload);
        sent += 1;
      }
    }
    console.log(`pipe-ns ${now() - started}`);
  }
  wss.close();
  await wss.closed;
}

export const run = main((args) => {
  if (args.length < 7) throw 'usage: bench MODE WORKLOAD URL COUNT SIZE WINDOW [TEXT]';
  const [, mode, workloadArg, url, countArg, sizeArg, windowArg, text] = args;
  const workload = workloadArg === 'timer' ? 'pipe' : workloadArg;
  const count = Number(countArg);
  const size = Number(sizeArg);
  const window = Number(windowArg);
  const payload =
    text === undefined
      ? new Uint8Array(size).fill(0x5a)
      : text.repeat(Math.ceil(size / text.length)).slice(0, size);
  const rtt = workload === 'rtt';
  if (mode === 'async') return echoStream(url, rtt, payload, count, window);
  // The `timer` workload: how late each tick of a 10 ms interval runs.
  const lateness = [];
  let ticker = null;
  if (workloadArg === 'timer') {
    // An interval is set again 10 ms after each run, as in a browser.
    let last = now();
    ticker = setInterval(() => {
      const late = now() - last - 10_000_000n;
      lateness.push(late > 0n ? late : 0n);
      last = now();
    }, 10);
  }
  const roundTrips = [];
  let sent = 0;
  let received = 0;
  let started = 0n;
  let lastSend = 0n;

  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  // The clock is read only where a figure needs it: a `now()` import costs
  // this guest ~3 µs, more than some of what the workload measures.
  const send = () => {
    sent += 1;
    if (rtt) lastSend = now();
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
      if (ticker !== null) {
        clearInterval(ticker);
        lateness.sort(byValue);
        console.log(`lateness-ns ${percentile(lateness, 0.5)} ${percentile(lateness, 0.99)}`);
      }
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
