// An app that cannot be built: a module it imports throws at its top level
// (see throws-at-load.js). guest/componentize must say where and why.
//
// Usage: app

import { settings } from './throws-at-load.js';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main(() => console.log(settings));
