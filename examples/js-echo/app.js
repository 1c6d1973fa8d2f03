// The js-echo example as a component: page.js, unchanged, on the
// wit-websocket host. Usage: js-echo URL
import { main } from '../../guest/js/websocket.js';
import { start } from './page.js';

export { handler, watchHandler } from '../../guest/js/websocket.js';

export const run = main((args) => {
  // A string, so that only the message is printed.
  if (args.length !== 2) throw 'usage: js-echo URL';
  start(args[1]);
});
