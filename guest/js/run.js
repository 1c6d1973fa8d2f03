// run.js: the component's `wasi:cli/run` export (`main`): starts the event
// loop and calls the app with its command line. It makes no sockets.

import { getArguments } from 'wasi:cli/environment@0.2.12';
import { exit } from 'wasi:cli/exit@0.2.12';
import { newTurn, pendingFetches, startEventLoop } from './event-loop.js';
import { describe } from './events.js';

/**
 * The `wasi:cli/run` export: calls `start` with the command line (`args[0]` is
 * the program's name). Sockets and timers `start` creates live on after it
 * returns; the host then delivers their events, as a page's event loop. If
 * `start` throws, or is async and its promise rejects (then or later), the
 * error is printed and the program exits with status 1.
 */
export function main(start) {
  return {
    run() {
      newTurn();
      startEventLoop();
      let result;
      try {
        result = start(getArguments());
      } catch (error) {
        console.error(describe(error));
        throw error;
      }
      // Not awaited: `run` must return for the host to call back in (only
      // fetches in flight are waited for: see `pendingFetches`).
      if (typeof result?.then === 'function') {
        result.then(undefined, (error) => {
          console.error(`Uncaught (in promise) ${describe(error)}`);
          exit({ tag: 'err', val: undefined });
        });
      }
      return pendingFetches();
    },
  };
}
