// XMLHttpRequest and FileReader as a worker has them, over fetch (built with
// `guest/componentize --fetch`): a GET with its ready states, status, body
// and headers; a 404; binary with responseType 'arraybuffer'; a request the
// network policy refuses (an error event, status 0); a relative URL against
// location; and FileReader reading a Blob.
//
// Usage: app TOKEN_URL MISSING_URL DENIED_URL

import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

function request(url, responseType = '') {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const states = [];
    xhr.onreadystatechange = () => states.push(xhr.readyState);
    xhr.responseType = responseType;
    xhr.addEventListener('loadend', () => resolve({ xhr, states }));
    xhr.onerror = () => console.log(`error event, status ${xhr.status}`);
    xhr.open('GET', url);
    xhr.send();
  });
}

export const run = main(async ([, tokenUrl, missingUrl, deniedUrl]) => {
  const got = await request(tokenUrl);
  console.log(`states ${got.states.join(',')}`);
  console.log(`status ${got.xhr.status} text ${JSON.stringify(got.xhr.responseText)}`);
  console.log(`length header ${got.xhr.getResponseHeader('content-length')}`);
  const missing = await request(missingUrl);
  console.log(`missing ${missing.xhr.status}`);
  const bytes = await request(tokenUrl, 'arraybuffer');
  console.log(`arraybuffer ${bytes.xhr.response instanceof ArrayBuffer} ${bytes.xhr.response.byteLength}`);
  const denied = await request(deniedUrl);
  console.log(`denied readyState ${denied.xhr.readyState}`);
  try {
    new XMLHttpRequest().open('GET', tokenUrl, false);
  } catch (error) {
    console.log(`synchronous: ${error.name}`);
  }
  const reader = new FileReader();
  await new Promise((resolve) => {
    reader.onload = resolve;
    reader.readAsDataURL(new Blob([new Uint8Array([104, 105])], { type: 'text/plain' }));
  });
  console.log(`data URL ${reader.result}`);
});
