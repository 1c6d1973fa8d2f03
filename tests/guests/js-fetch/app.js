// fetch and WebSocket in one guest: fetch a token over HTTP (a request the
// policy refuses first), then open a WebSocket with it and echo once.
//
//   js-fetch TOKEN_URL WS_URL DENIED_URL
import { main, WebSocket } from '../../../guest/js/websocket.js';
export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main(async ([, tokenUrl, wsUrl, deniedUrl]) => {
  try {
    await fetch(deniedUrl);
    console.log('denied fetch: answered');
  } catch (error) {
    console.log(`denied fetch: ${error.name}`);
  }
  const response = await fetch(tokenUrl);
  const token = (await response.text()).trim();
  console.log(`fetched ${response.status} ${token}`);
  const ws = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`);
  ws.onopen = () => ws.send(`hello with ${token}`);
  ws.onmessage = (event) => {
    console.log(`echoed: ${event.data}`);
    ws.close(1000, 'done');
  };
  ws.onclose = (event) => console.log(`closed ${event.code}`);
});
