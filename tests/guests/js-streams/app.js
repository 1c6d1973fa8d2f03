// Test guest for the stream and Turbulenz APIs.
//
//   js-streams writer URL COUNT SIZE   writes COUNT binary messages of SIZE bytes
//                                      through a WebSocketStream writer, waiting
//                                      on `writer.ready`, then reads one reply
//   js-streams slow-reader URL MS      reads one message, then none for MS, then all
//   js-streams close-behind URL        sends "go", reads one message, holds for
//                                      100 ms, reads the rest, awaits `closed`
//   js-streams abort URL MS            aborts the handshake with `signal` after MS
//   js-streams turbulenz URL           the Turbulenz NetworkDevice, updated once
//                                      per 16 ms frame by setInterval
import { main } from '../../../guest/js/websocket.js';
import { NetworkDevice, WebSocketStream } from '../../../guest/js/websocket-stream.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

async function writer(url, count, size) {
  const wss = new WebSocketStream(url);
  const { readable, writable } = await wss.opened;
  const writer = writable.getWriter();
  // A pushed socket beside the pulled one: its events still come.
  const pushed = new WebSocket(url);
  pushed.onopen = () => pushed.close(1000);
  pushed.onclose = (event) => console.log(`pushed socket closed ${event.code}`);
  for (let n = 0; n < count; n++) {
    await writer.ready;
    const message = new Uint8Array(size).fill(n % 251);
    new DataView(message.buffer).setBigUint64(0, BigInt(n));
    writer.write(message).catch((error) => console.log(`write failed ${error}`));
  }
  await writer.ready;
  console.log(`sent ${count}`);
  const { value } = await readable.getReader().read();
  console.log(`reply ${value}`);
  wss.close({ closeCode: 1000, reason: 'done' });
  const { closeCode, reason } = await wss.closed;
  console.log(`close ${closeCode} ${reason}`);
}

// Reads one message, stops reading for HOLD_MS (the host must stop reading
// the socket meanwhile), then reads to the end.
async function slowReader(url, holdMs) {
  const wss = new WebSocketStream(url);
  const { readable } = await wss.opened;
  const reader = readable.getReader();
  await reader.read();
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  let messages = 1;
  let bytes = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    messages += 1;
    bytes += value.byteLength;
  }
  const { closeCode } = await wss.closed;
  console.log(`read ${messages} messages, close ${closeCode}`);
}

// Sends "go", reads one message, holds for 100 ms while the rest and the
// server's close arrive, then reads them all and awaits `closed`.
async function closeBehind(url) {
  const wss = new WebSocketStream(url);
  const { readable, writable } = await wss.opened;
  const reader = readable.getReader();
  await writable.getWriter().write('go');
  const { value: first } = await reader.read();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const rest = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    // A binary chunk over a buffer of its own prints as its class.
    const own = typeof value !== 'string' && value.buffer.byteLength === value.byteLength;
    rest.push(typeof value === 'string' ? value : `${own ? value.constructor.name : 'view'}(${value.join()})`);
  }
  const { closeCode, reason } = await wss.closed;
  console.log(`read ${first} ${rest.join(' ')}`);
  console.log(`closed ${closeCode} ${reason}`);
}

// Aborts the handshake through the options' `signal` after MS.
async function abortWhileConnecting(url, ms) {
  const controller = new AbortController();
  const wss = new WebSocketStream(url, { signal: controller.signal });
  setTimeout(() => controller.abort(), ms);
  for (const [name, promise] of [['opened', wss.opened], ['closed', wss.closed]]) {
    try {
      await promise;
      console.log(`${name} resolved`);
    } catch (error) {
      console.log(`${name} rejected ${error.name}`);
    }
  }
}

function turbulenz(url) {
  const device = new NetworkDevice();
  const ws = device.createWebSocket(url);
  ws.onopen = () => {
    console.log(`open state=${ws.readyState}`);
    ws.send('frame by frame');
  };
  ws.onmessage = (message) => {
    console.log(`message ${message.data}`);
    ws.close(1000, 'done');
  };
  ws.onclose = (event) => {
    console.log(`close ${event.code} ${event.wasClean}`);
    clearInterval(frames);
    ws.destroy();
  };
  let updates = 0;
  const frames = setInterval(() => {
    updates += 1;
    device.update();
  }, 16);
  setTimeout(() => console.log(`state before any update=${ws.readyState} updates=${updates}`), 0);
}

export const run = main((args) => {
  const [, mode, url, count, size] = args;
  if (mode === 'writer') return writer(url, Number(count), Number(size));
  if (mode === 'turbulenz') return turbulenz(url);
  if (mode === 'slow-reader') return slowReader(url, Number(count));
  if (mode === 'close-behind') return closeBehind(url);
  if (mode === 'abort') return abortWhileConnecting(url, Number(count));
  throw `unknown mode ${mode}`;
});
