// Plain browser code: it uses only the standard WebSocket API, so it runs the
// same in a web page (index.html) and in a component (app.js).

/**
 * Opens a WebSocket to the echo server at `url`, sends a text and a binary
 * message, logs each echo, then closes. `log` receives one line at a time.
 */
export function start(url, log = console.log) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let echoes = 0;

  ws.onopen = () => {
    log(ws.extensions ? `open: ${ws.url} (${ws.extensions})` : `open: ${ws.url}`);
    ws.send('hello from JavaScript');
    ws.send(new Uint8Array([1, 2, 3]));
  };

  ws.onmessage = (event) => {
    if (typeof event.data === 'string') {
      log(`echo: ${event.data}`);
    } else {
      log(`echo: ${event.data.byteLength} bytes`);
    }
    echoes += 1;
    if (echoes === 2) ws.close(1000, 'done');
  };

  ws.onerror = () => log('error');

  ws.onclose = (event) => log(`close: ${event.code} clean=${event.wasClean}`);

  return ws;
}
