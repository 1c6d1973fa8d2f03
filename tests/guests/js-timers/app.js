// Browser code with timers, as a page would write it: timers set in `run`
// and in `onopen`, an interval cleared after three ticks, a cleared timeout,
// equal deadlines, promise jobs between timer tasks, and a timer set in
// `onclose` that the run must wait for.
//
// Usage: js-timers URL            the socket and the timers above
//        js-timers URL reject     an async start whose promise rejects after a timer
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

// Set in `run`: the module's top level runs when the component is built.
let started;
const at = () => Date.now() - started;

function timers(url) {
  setTimeout(() => console.log(`timeout 50 at=${at()}`), 50);
  const never = setTimeout(() => console.log('cleared timeout fired'), 10);
  clearTimeout(never);
  setTimeout(() => console.log('order a'), 5);
  setTimeout(() => console.log('order b'), 5);
  setTimeout(() => {
    console.log('first task');
    Promise.resolve().then(() => console.log('its promise job'));
    queueMicrotask(() => console.log('its microtask'));
  }, 1);
  setTimeout(() => console.log('second task'), 1);
  let ticks = 0;
  const interval = setInterval((label) => {
    ticks += 1;
    console.log(`${label} ${ticks}`);
    if (ticks === 3) clearInterval(interval);
  }, 30, 'tick');

  const ws = new WebSocket(url);
  ws.onopen = () => {
    console.log('open');
    setTimeout(() => ws.send(`sent at ${at() >= 100 ? '100+' : at()}`), 100);
  };
  ws.onmessage = (event) => {
    console.log(`message ${event.data}`);
    ws.close(1000, 'done');
  };
  ws.onclose = (event) => {
    console.log(`close ${event.code} ${event.wasClean}`);
    setTimeout(() => console.log(`last timer at=${at()}`), 20);
  };
}

async function rejecting() {
  await new Promise((resolve) => setTimeout(resolve, 20));
  console.log(`slept at=${at()}`);
  throw new Error('the async start failed');
}

export const run = main((args) => {
  started = Date.now();
  return args[2] === 'reject' ? rejecting() : timers(args[1]);
});
