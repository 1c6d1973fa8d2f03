// Browser-behaviour checks for the JavaScript SDK (guest/js/websocket.js),
// written from the WHATWG WebSockets standard, against real servers.
//
// Usage: suite ECHO_URL REFUSED_URL
//   ECHO_URL     a server that echoes text and binary messages and echoes the
//                close code and reason (and accepts permessage-deflate)
//   REFUSED_URL  a ws: URL where nothing listens
//
// The cases run one after another; each prints `ok - NAME` or
// `not ok - NAME: DETAIL`, then `suite: P passed, F failed`. The exit
// status is 1 when a case failed. A case that waits for events ends with its
// socket's close event, so the summary line is the proof that all ran.

import { exit } from 'wasi:cli/exit@0.2.12';
import { main } from '../../../guest/js/websocket.js';

export { handler, watchHandler } from '../../../guest/js/websocket.js';

let echo; // ECHO_URL, serialized as WebSocket.url serializes it
let refused; // REFUSED_URL

const cases = [];

function test(name, body) {
  cases.push({ name, body });
}

// ---- checks ----------------------------------------------------------------

function check(condition, detail) {
  if (!condition) throw new Error(detail);
}

function show(value) {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function same(actual, expected, what) {
  check(Object.is(actual, expected), `${what}: expected ${show(expected)}, got ${show(actual)}`);
}

function sameList(actual, expected, what) {
  same(JSON.stringify(actual), JSON.stringify(expected), what);
}

function throwsDOMException(name, action, what) {
  try {
    action();
  } catch (error) {
    check(error instanceof DOMException && error.name === name, `${what}: expected a ${name} DOMException, got ${error}`);
    return;
  }
  throw new Error(`${what}: expected a ${name} DOMException, nothing was thrown`);
}

function throwsTypeError(action, what) {
  try {
    action();
  } catch (error) {
    check(error instanceof TypeError, `${what}: expected a TypeError, got ${error}`);
    return;
  }
  throw new Error(`${what}: expected a TypeError, nothing was thrown`);
}

// Lets `setup` add its listeners to `ws`, then resolves with the close event
// (after every listener `setup` added for it has run).
function closed(ws, setup = () => {}) {
  return new Promise((resolve) => {
    try {
      setup(ws);
    } catch (error) {
      ws.close(); // a socket left open would keep the suite from ending
      throw error;
    }
    ws.addEventListener('close', resolve);
  });
}

// Waits for the socket to open, then closes it and waits for the close event.
function openThenClose(ws) {
  return closed(ws, () => ws.addEventListener('open', () => ws.close(1000)));
}

// Opens a socket to the echo server, sends `messages` once open, closes once
// as many echoes came back, and resolves with the echoes' data.
async function echoes(messages, setup = () => {}) {
  const ws = new WebSocket(echo);
  const received = [];
  await closed(ws, () => {
    setup(ws);
    ws.addEventListener('open', () => messages.forEach((message) => ws.send(message)));
    ws.addEventListener('message', (event) => {
      received.push(event.data);
      if (received.length === messages.length) ws.close(1000);
    });
  });
  return received;
}

const bytesOf = (buffer) => [...new Uint8Array(buffer)];

// A message's data, short: long text by its length, binary by length and first byte.
const shown = (data) => (typeof data === 'string'
  ? (data.length > 10 ? `text ${data.length}` : data)
  : `bytes ${data.byteLength} ${new Uint8Array(data)[0]}`);

// ---- the interface -----------------------------------------------------------

test('constants on the class and its prototype', () => {
  for (const [name, value] of [['CONNECTING', 0], ['OPEN', 1], ['CLOSING', 2], ['CLOSED', 3]]) {
    same(WebSocket[name], value, `WebSocket.${name}`);
    same(WebSocket.prototype[name], value, `WebSocket.prototype.${name}`);
    const descriptor = Object.getOwnPropertyDescriptor(WebSocket, name);
    check(!descriptor.writable && !descriptor.configurable, `WebSocket.${name} is not read-only`);
  }
});

test('WebIDL: attributes and operations are enumerable, configurable members of the prototype', () => {
  const members = [
    [WebSocket, ['url', 'readyState', 'bufferedAmount', 'onopen', 'onerror', 'onclose', 'extensions', 'protocol', 'onmessage', 'binaryType', 'close', 'send']],
    [MessageEvent, ['data', 'origin', 'lastEventId', 'source', 'ports']],
    [CloseEvent, ['wasClean', 'code', 'reason']],
  ];
  for (const [cls, names] of members) {
    for (const name of names) {
      const descriptor = Object.getOwnPropertyDescriptor(cls.prototype, name);
      check(descriptor?.enumerable === true && descriptor.configurable === true, `${name}: an enumerable, configurable member`);
    }
  }
});

test('WebIDL: WebSocket.prototype has only its own members (listeners come from EventTarget)', () => {
  const own = Object.getOwnPropertyNames(WebSocket.prototype).sort();
  const expected = ['CLOSED', 'CLOSING', 'CONNECTING', 'OPEN', 'binaryType', 'bufferedAmount', 'close', 'constructor',
    'extensions', 'onclose', 'onerror', 'onmessage', 'onopen', 'protocol', 'readyState', 'send', 'url'];
  sameList(own, expected, 'own properties');
  // And any EventTarget calls its listeners with `this` = the target, as the DOM says.
  const target = new EventTarget();
  let self = null;
  target.addEventListener('x', function () { self = this; });
  target.dispatchEvent(new Event('x'));
  same(self, target, 'this in a listener');
});

test('WebIDL: a Symbol where a string is wanted is a TypeError', () => {
  throwsTypeError(() => new WebSocket(Symbol('url')), 'new WebSocket(Symbol())');
  throwsTypeError(() => new WebSocket(echo, Symbol('protocol')), 'a Symbol as the protocol');
  throwsTypeError(() => new CloseEvent('close', { reason: Symbol('reason') }), "CloseEvent's reason");
  throwsTypeError(() => new MessageEvent('message', { origin: Symbol('origin') }), "MessageEvent's origin");
});

test('the globals are installed', () => {
  same(globalThis.WebSocket, WebSocket, 'globalThis.WebSocket');
  check(new MessageEvent('message') instanceof Event, 'MessageEvent is not an Event');
  check(new CloseEvent('close') instanceof Event, 'CloseEvent is not an Event');
  check(WebSocket.prototype instanceof EventTarget, 'WebSocket is not an EventTarget');
});

test('the constructor needs new and an argument (TypeError)', () => {
  throwsTypeError(() => new WebSocket(), 'new WebSocket()');
  throwsTypeError(() => WebSocket(echo), 'WebSocket(url) without new');
});

test('constructor: a relative URL resolves against location (http mapped to ws)', () => {
  for (const [relative, expected] of [
    ['/chat', 'ws://localhost/chat'],
    ['chat?room=1', 'ws://localhost/chat?room=1'],
    ['//127.0.0.1:9/x', 'ws://127.0.0.1:9/x'],
  ]) {
    const ws = new WebSocket(relative);
    ws.onerror = () => {}; // failed by the close below
    ws.close();
    same(ws.url, expected, `new WebSocket('${relative}').url against ${location.href}`);
  }
  throwsDOMException('SyntaxError', () => new WebSocket('http://[::1'), "'http://[::1'");
});

test('constructor: an ftp: URL is a SyntaxError', () => {
  throwsDOMException('SyntaxError', () => new WebSocket('ftp://127.0.0.1/'), 'ftp:');
  throwsDOMException('SyntaxError', () => new WebSocket('file:///tmp/x'), 'file:');
});

test('constructor: a fragment is a SyntaxError, even an empty one', () => {
  throwsDOMException('SyntaxError', () => new WebSocket(`${echo}#part`), '#part');
  throwsDOMException('SyntaxError', () => new WebSocket(`${echo}#`), '#');
});

test('constructor: a protocol offered twice is a SyntaxError', () => {
  throwsDOMException('SyntaxError', () => new WebSocket(echo, ['chat', 'chat']), "['chat', 'chat']");
  // Compared as ASCII case-insensitive, as the handshake's header values are.
  throwsDOMException('SyntaxError', () => new WebSocket(echo, ['echo', 'eCho']), "['echo', 'eCho']");
});

test('constructor: a protocol that is not a token is a SyntaxError', () => {
  for (const protocol of ['', 'a b', 'a,b', 'chat/1', 'é']) {
    throwsDOMException('SyntaxError', () => new WebSocket(echo, protocol), show(protocol));
  }
  throwsDOMException('SyntaxError', () => new WebSocket(echo, ['chat', '']), "['chat', '']");
});

test('constructor: an http: URL becomes ws: in url', async () => {
  const ws = new WebSocket(echo.replace(/^ws:/, 'http:'));
  same(ws.url, echo, 'url');
  await openThenClose(ws);
});

test('the initial state', async () => {
  const ws = new WebSocket(echo);
  same(ws.url, echo, 'url');
  same(ws.readyState, WebSocket.CONNECTING, 'readyState');
  same(ws.bufferedAmount, 0, 'bufferedAmount');
  same(ws.binaryType, 'blob', 'binaryType');
  same(ws.protocol, '', 'protocol');
  same(ws.extensions, '', 'extensions');
  same(ws.onopen, null, 'onopen');
  same(ws.CONNECTING + ws.OPEN + ws.CLOSING + ws.CLOSED, 6, 'the constants on the instance');
  same(Object.prototype.toString.call(ws), '[object WebSocket]', 'toString');
  await openThenClose(ws);
});

test('send() while CONNECTING throws InvalidStateError', async () => {
  const ws = new WebSocket(echo);
  throwsDOMException('InvalidStateError', () => ws.send('early'), "send('early')");
  throwsDOMException('InvalidStateError', () => ws.send(new Uint8Array(1)), 'send(bytes)');
  await openThenClose(ws);
});

test('close() with a code other than 1000 or 3000-4999 throws InvalidAccessError', async () => {
  const ws = new WebSocket(echo);
  for (const code of [0, 999, 1001, 1005, 2999, 5000, 70000]) {
    throwsDOMException('InvalidAccessError', () => ws.close(code), `close(${code})`);
  }
  same(ws.readyState, WebSocket.CONNECTING, 'readyState after the refused close() calls');
  await openThenClose(ws);
});

test('close() with a reason over 123 bytes of UTF-8 throws SyntaxError; 123 is fine', async () => {
  const ws = new WebSocket(echo);
  const longest = `${'é'.repeat(61)}a`; // 123 bytes
  throwsDOMException('SyntaxError', () => ws.close(1000, 'a'.repeat(124)), '124 ASCII bytes');
  throwsDOMException('SyntaxError', () => ws.close(1000, 'é'.repeat(62)), "62 × 'é' (124 bytes)");
  const event = await closed(ws, () => { ws.onopen = () => ws.close(1000, longest); });
  same(event.reason, longest, 'the echoed reason');
});

test('close(3000) is accepted and echoed', async () => {
  const ws = new WebSocket(echo);
  const event = await closed(ws, () => { ws.onopen = () => ws.close(3000); });
  same(event.code, 3000, 'code');
  same(event.wasClean, true, 'wasClean');
});

test('close() without a code: the close event has code 1005', async () => {
  const ws = new WebSocket(echo);
  const event = await closed(ws, () => { ws.onopen = () => ws.close(); });
  same(event.code, 1005, 'code');
  same(event.reason, '', 'reason');
});

// ---- events ------------------------------------------------------------------

test('events: open, message, close; a clean close echoes code and reason', async () => {
  const ws = new WebSocket(echo);
  const log = [];
  const event = await closed(ws, () => {
    ws.onopen = (e) => { log.push(e.type); ws.send('ping'); };
    ws.onmessage = (e) => { log.push(`${e.type} ${e.data}`); ws.close(4000, 'bye'); };
    ws.onerror = (e) => log.push(e.type);
    ws.onclose = (e) => log.push(e.type);
  });
  sameList(log, ['open', 'message ping', 'close'], 'events');
  check(event instanceof CloseEvent, 'the close event is not a CloseEvent');
  same(event.code, 4000, 'code');
  same(event.reason, 'bye', 'reason');
  same(event.wasClean, true, 'wasClean');
});

test('readyState: OPEN at open, CLOSING right after close(), CLOSED at close', async () => {
  const ws = new WebSocket(echo);
  const states = [];
  await closed(ws, () => {
    ws.onopen = () => {
      states.push(ws.readyState);
      ws.close(1000);
      states.push(ws.readyState);
    };
    ws.onclose = () => states.push(ws.readyState);
  });
  sameList(states, [WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], 'readyState');
});

test('onmessage and addEventListener listeners run in registration order', async () => {
  const log = [];
  await echoes(['x'], (ws) => {
    ws.addEventListener('message', () => log.push('A'));
    ws.onmessage = () => log.push('B');
    ws.addEventListener('message', () => log.push('C'));
    ws.onmessage = () => log.push('B2'); // takes B's place
  });
  sameList(log, ['A', 'B2', 'C'], 'order');
});

test('onmessage = null removes the handler; setting it again puts it last', async () => {
  const log = [];
  await echoes(['x'], (ws) => {
    ws.addEventListener('message', () => log.push('A'));
    ws.onmessage = () => log.push('B');
    ws.addEventListener('message', () => log.push('C'));
    ws.onmessage = null;
    same(ws.onmessage, null, 'onmessage after null');
    ws.onmessage = () => log.push('B2');
    ws.onerror = 'not a function';
    same(ws.onerror, null, 'onerror set to a string');
  });
  sameList(log, ['A', 'C', 'B2'], 'order');
});

test('removeEventListener removes a listener; adding one twice registers it once', async () => {
  const log = [];
  await echoes(['x'], (ws) => {
    const removed = () => log.push('removed');
    const kept = () => log.push('kept');
    ws.addEventListener('message', removed);
    ws.addEventListener('message', kept);
    ws.addEventListener('message', kept);
    ws.removeEventListener('message', removed);
  });
  sameList(log, ['kept'], 'listeners run');
});

test('a { once: true } listener runs once', async () => {
  let calls = 0;
  await echoes(['one', 'two'], (ws) => ws.addEventListener('message', () => { calls += 1; }, { once: true }));
  same(calls, 1, 'calls');
});

test('a listener that throws does not stop the next ones', async () => {
  const log = [];
  await echoes(['x'], (ws) => {
    ws.addEventListener('message', () => { throw new Error('thrown on purpose by the suite'); });
    ws.onmessage = () => { log.push('handler'); throw new Error('thrown on purpose by the suite'); };
    ws.addEventListener('message', () => log.push('listener'));
  });
  sameList(log, ['handler', 'listener'], 'listeners run');
});

test('listeners see this, target and currentTarget = the socket; handleEvent objects work', async () => {
  let ws;
  const seen = [];
  await echoes(['x'], (socket) => {
    ws = socket;
    ws.onopen = function (event) { seen.push(this === ws, event.target === ws, event.currentTarget === ws); };
    ws.addEventListener('message', { handleEvent(event) { seen.push(this !== ws, event.currentTarget === ws); } });
  });
  sameList(seen, [true, true, true, true, true], 'checks');
});

test('dispatchEvent reaches onopen and the listeners', async () => {
  const ws = new WebSocket(echo);
  const made = new Event('open');
  const seen = [];
  await closed(ws, () => {
    ws.onopen = (event) => seen.push(event);
    ws.addEventListener('open', () => ws.readyState === WebSocket.OPEN && ws.close(1000));
    same(ws.dispatchEvent(made), true, 'dispatchEvent result');
  });
  same(seen.length, 2, 'open events (dispatched and real)');
  same(seen[0], made, 'the dispatched event');
});

// ---- messages ----------------------------------------------------------------

test('a text echo is a string; a lone surrogate is sent as U+FFFD', async () => {
  const received = await echoes(['héllo ✓ 🌍', 'a\uD800b', '\uDC00', 'é'.repeat(30000)]);
  sameList(received.map(shown), ['héllo ✓ 🌍', 'a\uFFFDb', '\uFFFD', shown('é'.repeat(30000))], 'echoes');
  same(received[3], 'é'.repeat(30000), 'the long text');
});

test('a binary echo is a Blob by default', async () => {
  const [data] = await echoes([new Uint8Array([1, 2, 3])]);
  check(data instanceof Blob, `data is not a Blob: ${data}`);
  sameList(bytesOf(await data.arrayBuffer()), [1, 2, 3], 'bytes');
});

test('binaryType "arraybuffer" gives ArrayBuffers; "bogus" is ignored', async () => {
  const [data] = await echoes([new Uint8Array([7, 8])], (ws) => {
    ws.binaryType = 'arraybuffer';
    ws.binaryType = 'bogus';
    same(ws.binaryType, 'arraybuffer', 'binaryType after "bogus"');
  });
  check(data instanceof ArrayBuffer, `data is not an ArrayBuffer: ${data}`);
  sameList(bytesOf(data), [7, 8], 'bytes');
});

test('a typed array view or DataView sends only the viewed bytes', async () => {
  const buffer = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer;
  const received = await echoes([new Uint8Array(buffer, 2, 3), new DataView(buffer, 5, 2), buffer], (ws) => {
    ws.binaryType = 'arraybuffer';
  });
  sameList(received.map(bytesOf), [[2, 3, 4], [5, 6], [0, 1, 2, 3, 4, 5, 6, 7]], 'echoes');
});

test('a Blob is sent in order with the messages around it', async () => {
  const received = await echoes(['before', new Blob(['blob']), 'after'], (ws) => { ws.binaryType = 'arraybuffer'; });
  const shown = received.map((data) => (typeof data === 'string' ? data : new TextDecoder().decode(data)));
  sameList(shown, ['before', 'blob', 'after'], 'echoes');
});

test('messages sent in one task arrive in order, small and large, text and binary', async () => {
  const large = 'x'.repeat(40000);
  const sent = ['a', new Uint8Array([1, 2]), large, 'b', new Uint8Array(30000).fill(7), '', 'é', new Uint8Array(0)];
  for (let i = 0; i < 200; i++) sent.push(`n${i}`);
  const received = await echoes(sent, (ws) => { ws.binaryType = 'arraybuffer'; });
  sameList(received.map(shown), sent.map((m) => shown(typeof m === 'string' ? m : m.buffer)), 'echoes');
});

test('messages sent while a batch of messages is handled keep their order', async () => {
  // The echoes of 30 messages sent at once mostly arrive together; the
  // replies each sends (small ones packed for one call at the batch's
  // end, large ones at once) must reach the server in the order sent.
  const ws = new WebSocket(echo);
  ws.binaryType = 'arraybuffer';
  const received = [];
  // Text packed is encoded into the pack: multi-byte characters, a lone
  // surrogate (sent as U+FFFD), and a text of more bytes than UTF-16 units.
  const replies = (n) => [
    `r${n}`, 'y'.repeat(20000), new Uint8Array([n]), new Uint8Array(0), `s${n} é✓🌍`, 'a\uD800b'.repeat(n), '✓'.repeat(n * 100),
  ];
  const expected = [];
  for (let n = 0; n < 30; n++) expected.push(`p${n}`);
  for (let n = 0; n < 30; n++) expected.push(...replies(n).map((m) => shown(typeof m === 'string' ? m.toWellFormed() : m.buffer)));
  await closed(ws, () => {
    ws.onopen = () => { for (let n = 0; n < 30; n++) ws.send(`p${n}`); };
    ws.onmessage = (event) => {
      received.push(shown(event.data));
      if (typeof event.data === 'string' && event.data.startsWith('p')) {
        for (const reply of replies(Number(event.data.slice(1)))) ws.send(reply);
      }
      if (received.length === expected.length) ws.close(1000);
    };
  });
  sameList(received, expected, 'echoes');
});

test('bufferedAmount counts messages sent in this task at once, and a close() after them waits for none', async () => {
  const ws = new WebSocket(echo);
  const seen = [];
  await closed(ws, () => {
    ws.onopen = () => {
      const before = ws.bufferedAmount;
      for (let i = 0; i < 10; i++) ws.send('abc');
      ws.send(new Uint8Array(5));
      seen.push(ws.bufferedAmount - before);
      ws.close(3000, 'after ten');
    };
    ws.onclose = (event) => seen.push(event.code, event.reason, event.wasClean);
  });
  sameList(seen, [35, 3000, 'after ten', true], 'growth, then the close the server echoed');
});

test('MessageEvent: origin is the URL origin, lastEventId "", source null, ports []', async () => {
  let event;
  await echoes(['x'], (ws) => ws.addEventListener('message', (e) => { event = e; }));
  check(event instanceof MessageEvent, 'not a MessageEvent');
  same(event.origin, new URL(echo).origin, 'origin');
  same(event.lastEventId, '', 'lastEventId');
  same(event.source, null, 'source');
  same(event.ports.length, 0, 'ports.length');
});

test('send() after close() does not throw and grows bufferedAmount', async () => {
  const ws = new WebSocket(echo);
  const growth = [];
  await closed(ws, () => {
    ws.onopen = () => {
      ws.close(1000);
      const before = ws.bufferedAmount;
      ws.send('hello'); // 5 bytes
      ws.send(new Uint8Array(3)); // 3
      ws.send(new Blob(['abcd'])); // 4
      ws.send('é'); // 2
      growth.push(ws.bufferedAmount - before);
    };
    ws.onclose = () => {
      const before = ws.bufferedAmount;
      ws.send('after close'); // 11
      growth.push(ws.bufferedAmount - before);
    };
  });
  sameList(growth, [14, 11], 'bufferedAmount growth (while CLOSING, then CLOSED)');
});

test('bufferedAmount does not fall while a script runs', async () => {
  const ws = new WebSocket(echo);
  const seen = [];
  await closed(ws, () => {
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      ws.send(new Uint8Array(4 << 20));
      const first = ws.bufferedAmount;
      // The host writes meanwhile; the value is the one of this turn.
      const until = Date.now() + 200;
      while (Date.now() < until);
      const later = ws.bufferedAmount;
      ws.send('12345');
      seen.push(first > 0, later === first, ws.bufferedAmount === first + 5);
    };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') ws.close(1000);
    };
  });
  sameList(seen, [true, true, true], 'bufferedAmount > 0, unchanged after 200 ms, then grown by a send');
});

test('a message the host refuses fires error, then close (the spec\'s "flagged as full")', async () => {
  // The suite's host takes messages of at most 8 MiB.
  const ws = new WebSocket(echo);
  const seen = [];
  await closed(ws, () => {
    ws.onopen = () => {
      ws.send(new Uint8Array(9 << 20));
      seen.push(`state ${ws.readyState}`, `buffered ${ws.bufferedAmount >= 9 << 20}`);
    };
    ws.onerror = () => seen.push('error');
    ws.onclose = () => seen.push('close');
  });
  sameList(seen, ['state 2', 'buffered true', 'error', 'close'], 'events');
});

// ---- connection state ------------------------------------------------------

test('extensions is permessage-deflate after open', async () => {
  const ws = new WebSocket(echo);
  let extensions;
  await closed(ws, () => { ws.onopen = () => { extensions = ws.extensions; ws.close(1000); }; });
  same(extensions.split(';')[0].trim(), 'permessage-deflate', `the first extension (of ${show(extensions)})`);
});

test('protocols offered but none selected by the server: the connection fails (Fetch)', async () => {
  // Fetch's "establish a WebSocket connection": with protocols offered, a
  // response without Sec-WebSocket-Protocol fails the connection.
  const ws = new WebSocket(echo, ['chat', 'superchat']);
  const log = [];
  await closed(ws, () => {
    ws.onopen = () => log.push('open');
    ws.onerror = () => log.push('error');
    ws.onclose = (e) => log.push(`close ${e.code}`);
  });
  sameList(log, ['error', 'close 1006'], 'events');
  same(ws.protocol, '', 'protocol');
});

test('close() while CONNECTING: error, then close 1006, not clean', async () => {
  const ws = new WebSocket(echo);
  const log = [];
  ws.close();
  same(ws.readyState, WebSocket.CLOSING, 'readyState right after close()');
  const event = await closed(ws, () => {
    ws.onopen = () => log.push('open');
    ws.onerror = () => log.push(`error (readyState ${ws.readyState})`);
    ws.onclose = (e) => log.push(`close ${e.code} ${e.wasClean}`);
  });
  sameList(log, ['error (readyState 3)', 'close 1006 false'], 'events');
  same(event.reason, '', 'reason');
});

test('a refused connection: no throw; error, then close 1006; readyState CLOSED', async () => {
  const ws = new WebSocket(refused);
  const log = [];
  await closed(ws, () => {
    ws.onopen = () => log.push('open');
    ws.onerror = (e) => log.push(`${e.constructor.name} ${e.type} (readyState ${ws.readyState})`);
    ws.onclose = (e) => log.push(`${e.constructor.name} ${e.code} ${e.wasClean}`);
  });
  sameList(log, ['Event error (readyState 3)', 'CloseEvent 1006 false'], 'events');
  same(ws.readyState, WebSocket.CLOSED, 'readyState');
});

test('a host that cannot be reached (network policy or DNS): no throw; error, then close 1006', async () => {
  const ws = new WebSocket('ws://unreachable.invalid/');
  const log = [];
  await closed(ws, () => {
    ws.onerror = () => log.push('error');
    ws.onclose = (e) => log.push(`close ${e.code} ${e.wasClean}`);
  });
  sameList(log, ['error', 'close 1006 false'], 'events');
});

test('MessageEvent and CloseEvent constructors', () => {
  const message = new MessageEvent('message');
  sameList([message.data, message.origin, message.lastEventId, message.source, message.ports.length], [null, '', '', null, 0], 'MessageEvent defaults');
  const made = new MessageEvent('message', { data: 'd', origin: 'ws://a', lastEventId: '7' });
  sameList([made.type, made.data, made.origin, made.lastEventId], ['message', 'd', 'ws://a', '7'], 'MessageEvent init');
  const close = new CloseEvent('close');
  sameList([close.code, close.reason, close.wasClean], [0, '', false], 'CloseEvent defaults');
  const made2 = new CloseEvent('close', { code: 4000, reason: 'r', wasClean: true, cancelable: true });
  sameList([made2.code, made2.reason, made2.wasClean, made2.cancelable], [4000, 'r', true, true], 'CloseEvent init');
  throwsTypeError(() => new CloseEvent(), 'new CloseEvent()');
});

// ---- the runner --------------------------------------------------------------

function describe(error) {
  if (error instanceof DOMException) return `${error.name}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export const run = main((args) => {
  if (args.length !== 3) throw 'usage: suite ECHO_URL REFUSED_URL';
  echo = new URL(args[1]).href;
  refused = args[2];
  let passed = 0;
  let failed = 0;
  let chain = Promise.resolve();
  for (const { name, body } of cases) {
    chain = chain.then(body).then(
      () => {
        passed += 1;
        console.log(`ok - ${name}`);
      },
      (error) => {
        failed += 1;
        console.log(`not ok - ${name}: ${describe(error)}`);
      },
    );
  }
  chain.then(() => {
    console.log(`suite: ${passed} passed, ${failed} failed`);
    if (failed > 0) exit({ tag: 'err', val: undefined });
  });
});
