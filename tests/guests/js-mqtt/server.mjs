// An MQTT broker over WebSockets: aedes behind ws, on 127.0.0.1 (a port of
// the system's choosing, printed as `listening PORT`). A client that
// publishes to `ctl/drop` has its connection dropped (no DISCONNECT, no
// close frame), so that its reconnect can be tested.
//
// Usage: node server.mjs
import createBroker from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';

const broker = createBroker();
broker.on('publish', (packet, client) => {
  if (client && packet.topic === 'ctl/drop') client.conn.destroy();
});
const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
server.on('connection', (socket) => broker.handle(createWebSocketStream(socket)));
server.on('listening', () => console.log(`listening ${server.address().port}`));
