// An rpc-websockets Server on 127.0.0.1 (a port of the system's choosing,
// printed as `listening PORT`): `sum`, `fail` (an error result), `tick`
// (emits the event `ticked` to its subscribers) and `drop` (closes the
// caller's connection without a close frame, so that its reconnect can be
// tested).
//
// Usage: node server.mjs
import { Server } from 'rpc-websockets';

const server = new Server({ host: '127.0.0.1', port: 0 });
server.register('sum', ([a, b]) => a + b);
server.register('fail', () => {
  throw new Error('refused on purpose');
});
server.event('ticked');
server.register('tick', ([n]) => {
  server.emit('ticked', { n });
  return true;
});
server.register('drop', (_params, socketId) => {
  setTimeout(() => server.namespaces['/'].clients.get(socketId)?.terminate(), 50);
  return true;
});
server.on('listening', () => console.log(`listening ${server.wss.address().port}`));
