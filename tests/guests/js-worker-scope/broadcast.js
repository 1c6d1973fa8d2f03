// BroadcastChannel within one instance: a message posted on one channel
// reaches the other open channels of its name, as a structured clone, in a
// task of its own.
//
// Usage: broadcast

import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main(() => {
  const a = new BroadcastChannel('room');
  const b = new BroadcastChannel('room');
  const c = new BroadcastChannel('room');
  const other = new BroadcastChannel('elsewhere');
  const sent = { n: 1 };
  const show = (name) => (event) => {
    console.log(`${name} got ${JSON.stringify(event.data)} from an own copy ${event.data !== sent}`);
  };
  a.onmessage = show('a');
  b.onmessage = show('b');
  c.addEventListener('message', show('c'));
  other.onmessage = show('other');
  a.postMessage(sent);
  setTimeout(() => {
    c.close();
    a.postMessage({ n: 2 });
    setTimeout(() => {
      try {
        c.postMessage({ n: 3 });
      } catch (error) {
        console.log(`posting on a closed channel: ${error.name}`);
      }
      for (const channel of [a, b, other]) channel.close();
    }, 10);
  }, 10);
});
