// socket.io-client 4, unchanged from npm (its browser build), through what
// its users touch first: connect, events with acknowledgements, binary data,
// its heartbeat, a reconnect after the server drops the connection, and a
// clean disconnect. Its transport is WebSocket alone: a long-poll in flight
// would hold the guest's callbacks back until it returns (see the README).
//
// Usage: app SOCKET_IO_URL (tests/guests/js-socketio/server.mjs)

import { io } from 'socket.io-client';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

export const run = main((args) => {
  const socket = io(args[1], { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200 });
  let connects = 0;
  let pings = 0;
  socket.io.engine.on('ping', () => {
    pings += 1;
  });
  socket.on('connect', async () => {
    connects += 1;
    console.log(`connect ${connects} ${socket.id.length > 0}`);
    if (connects === 1) {
      console.log(`sum ${await socket.emitWithAck('sum', 2, 40)}`);
      const back = await socket.emitWithAck('echo', new Uint8Array([0, 1, 2, 254, 255]));
      console.log(`echo ${back instanceof ArrayBuffer} ${[...new Uint8Array(back)].join(',')}`);
      // Idle for 700 ms: the server pings every 200 ms, and is answered.
      setTimeout(() => {
        console.log(`heartbeat ${pings >= 1}`);
        socket.emit('drop');
      }, 700);
    } else {
      console.log(`sum again ${await socket.emitWithAck('sum', 1, 1)}`);
      socket.disconnect();
    }
  });
  socket.on('disconnect', (reason) => console.log(`disconnect ${reason}`));
  socket.io.on('reconnect_attempt', () => console.log('reconnecting'));
});
