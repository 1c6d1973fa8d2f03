// A socket.io server on 127.0.0.1 (a port of the system's choosing, printed
// as `listening PORT`), pinging every 200 ms: `sum` answers with an
// acknowledgement, `echo` sends binary back, `drop` closes the client's
// connection without a close frame (so that its reconnect can be tested).
//
// Usage: node server.mjs
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { pingInterval: 200, pingTimeout: 1000 });
io.on('connection', (socket) => {
  socket.on('sum', (a, b, ack) => ack(a + b));
  socket.on('echo', (data, ack) => ack(data));
  socket.on('drop', () => socket.conn.transport.socket.terminate());
});
http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
