// Yjs with y-websocket, unchanged from npm: a document shared through a
// y-websocket server. Each instance writes `[NAME]` once it has synced and
// ends once it sees every name given, printing the merged names and its
// Yjs client id (which lib0 draws from a getRandomValues it bound at load).
//
// Usage: app Y_WEBSOCKET_URL NAME NAME... (the first NAME is this instance's)

import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main(([, url, name, ...others]) => {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, 'shared-room', doc);
  const text = doc.getText('notes');
  let written = false;
  let done = false;
  provider.on('sync', (synced) => {
    if (synced && !written) {
      written = true;
      text.insert(text.length, `[${name}]`);
    }
  });
  text.observe(() => {
    const names = [...text.toString().matchAll(/\[(\w+)\]/g)].map((match) => match[1]).sort();
    if (done || ![name, ...others].every((n) => names.includes(n))) return;
    done = true;
    console.log(`converged ${names.join(' ')}`);
    console.log(`client ${doc.clientID}`);
    // Let the last update reach the server before leaving.
    setTimeout(() => {
      provider.destroy();
      doc.destroy();
    }, 200);
  });
});
