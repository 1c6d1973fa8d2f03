// A ws server on 127.0.0.1 (a port of the system's choosing, printed as
// `listening PORT`): it echoes every message, text and binary alike, and
// drops the connection (no close frame) on the text `drop`, once.
//
// Usage: node server.mjs
import { WebSocketServer } from 'ws';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
let dropped = false;
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => {
    if (!isBinary && String(data) === 'drop' && !dropped) {
      dropped = true;
      socket.terminate();
      return;
    }
    socket.send(data, { binary: isBinary });
  });
});
server.on('listening', () => console.log(`listening ${server.address().port}`));
