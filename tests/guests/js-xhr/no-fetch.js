// Built without --fetch: fetch rejects and XMLHttpRequest ends in an error
// event, where fetch used to trap the whole guest.
//
// Usage: no-fetch URL

import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main(async ([, url]) => {
  try {
    await fetch(url);
  } catch (error) {
    console.log(`fetch: ${error.name}: ${error.message.includes('--fetch')}`);
  }
  const xhr = new XMLHttpRequest();
  xhr.open('GET', url);
  await new Promise((resolve) => {
    xhr.onerror = () => console.log(`xhr: error event, status ${xhr.status}, readyState ${xhr.readyState}`);
    xhr.onloadend = resolve;
    xhr.send();
  });
});
