// The chat example's JavaScript guest: joins a room of the chat server with a
// nickname, says its lines, prints every line the room sends, and leaves. It
// uses the browser's WebSocket API, through the SDK in guest/js.
//
// Usage: wit-websocket run chat.wasm -- [--leave-after N] ROOM_URL NICK [LINE...]
// e.g. `ws://127.0.0.1:9001/lobby ann "hello all"`. With `--leave-after N` it
// leaves (close 1000) once it has seen N chat lines (its own included);
// otherwise it stays until the server closes. It behaves as the Rust and
// Python guests in examples/chat/ do.
//
// Build: guest/componentize examples/chat/js/app.js chat-js.wasm
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

// Thrown as a string, so that `main` prints just this line.
const USAGE = 'usage: chat [--leave-after N] ROOM_URL NICK [LINE...]';

// { leaveAfter, roomUrl, nick, lines } from the arguments after the program's name.
function parse(args) {
  let leaveAfter = null;
  if (args[0] === '--leave-after') {
    if (!/^[0-9]+$/.test(args[1] ?? '') || Number(args[1]) === 0) {
      throw `chat: --leave-after takes a positive whole number\n${USAGE}`;
    }
    leaveAfter = Number(args[1]);
    args = args.slice(2);
  }
  if (args.length < 2) throw USAGE;
  const [roomUrl, nick, ...lines] = args;
  return { leaveAfter, roomUrl, nick, lines };
}

function start(args) {
  const { leaveAfter, roomUrl, nick, lines } = parse(args.slice(1));
  const ws = new WebSocket(`${roomUrl}?nick=${nick}`);
  let chatLinesSeen = 0;

  ws.onopen = () => {
    console.log(`joined as ${nick}`);
    for (const line of lines) ws.send(line);
  };

  ws.onmessage = (event) => {
    if (typeof event.data !== 'string') return; // the room sends text only
    const line = event.data;
    console.log(line);
    if (!line.startsWith('* ')) {
      chatLinesSeen += 1;
      if (chatLinesSeen === leaveAfter) ws.close(1000, 'bye');
    }
  };

  // The browser keeps the reason from scripts (the SDK prints it to stderr).
  ws.onerror = () => console.error('error');

  ws.onclose = (event) => console.log(`left: ${event.code}`);
}

export const run = main(start);
