// A y-websocket server (@y/websocket-server's connection handler, behind
// ws) on 127.0.0.1, a port of the system's choosing, printed as
// `listening PORT`.
//
// Usage: node server.mjs
import http from 'node:http';
import { setupWSConnection } from '@y/websocket-server/utils';
import { WebSocketServer } from 'ws';

const sockets = new WebSocketServer({ noServer: true });
sockets.on('connection', setupWSConnection);
const server = http.createServer((_request, response) => response.end('okay'));
server.on('upgrade', (request, socket, head) => {
  sockets.handleUpgrade(request, socket, head, (ws) => sockets.emit('connection', ws, request));
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
