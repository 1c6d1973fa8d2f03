// Prints the JavaScript SDK's verdict (rules.js) on a fixed list of inputs,
// one JSON object a line, for comparison with the host's rules
// (host/src/rules.rs):
//
//     node guest/js/test/rules-table.mjs
//
//     {"kind":"close","code":999,"reason":null,"reason_len":0,"ok":false,"error":"InvalidAccessError","message":"..."}
//     {"kind":"url","url":"http://a/","ok":true,"href":"ws://a/"}
//     {"kind":"protocols","protocols":["chat","Chat"],"ok":false,"error":"SyntaxError","message":"..."}
//
// `code` and `reason` are as the host receives them: the code an unsigned
// short (null: none given), the reason a well-formed string (null: none
// given; a lone surrogate is already U+FFFD, as webidl.js converts it),
// `reason_len` its bytes of UTF-8. The inputs are those both sides check;
// the host's own limits (URLs over 16 KiB, more than 64 subprotocols or one
// over 256 bytes) are not checked by the SDK and are left out.

import { checkCloseCode, checkCloseReason, checkProtocols, parseURL } from '../rules.js';

const utf8 = new TextEncoder();

function verdict(entry, check) {
  try {
    const result = check();
    return { ...entry, ok: true, ...result };
  } catch (error) {
    if (!(error instanceof DOMException)) throw error;
    return { ...entry, ok: false, error: error.name, message: error.message };
  }
}

const rows = [];

// close(code, reason): the code checked first, as close() does.
const codes = [0, 999, 1000, 1001, 1005, 1006, 1011, 1015, 2999, 3000, 3999, 4000, 4999, 5000, 65535];
const reasons = [
  '',
  'a'.repeat(123),
  'a'.repeat(124),
  '€'.repeat(41), // 3 bytes each: 123
  `${'€'.repeat(41)}a`, // 124
  `${'é'.repeat(61)}a`, // 2 bytes each: 123
  'é'.repeat(62), // 124
  `${'😀'.repeat(30)}abc`, // 4 bytes each: 123
  '😀'.repeat(31), // 124
  `\uD800${'a'.repeat(120)}`, // a lone surrogate: U+FFFD, 3 bytes: 123
  `\uD800${'a'.repeat(121)}`, // 124
];
const closeCases = [
  ...codes.map((code) => [code, undefined]),
  ...reasons.map((reason) => [undefined, reason]),
  ...reasons.map((reason) => [1000, reason]),
  [4999, 'a'.repeat(123)],
  [999, 'a'.repeat(124)],
  [1001, 'bye'],
  [undefined, undefined],
];
for (const [code, given] of closeCases) {
  const reason = given === undefined ? undefined : given.toWellFormed();
  const entry = {
    kind: 'close',
    code: code ?? null,
    reason: reason ?? null,
    reason_len: reason === undefined ? 0 : utf8.encode(reason).length,
  };
  rows.push(verdict(entry, () => {
    if (code !== undefined) checkCloseCode('close', code);
    if (reason !== undefined) checkCloseReason('close', reason);
    return {};
  }));
}

// new WebSocket(url): the URL steps.
const urls = [
  'ws://a/',
  'wss://a/',
  'http://a/',
  'https://a/chat?x=1',
  'WS://A:9001/',
  'ws://127.0.0.1:9001/',
  'ws://[::1]:9001/',
  'wss://a/#f',
  'ws://a/#',
  'ftp://a/',
  'file:///x',
  'mailto:a@b',
  '/x',
  'x',
  '',
  'ws://',
  'ws://a:99999/',
  'ws://a b/',
  'not a url',
];
for (const url of urls) {
  rows.push(verdict({ kind: 'url', url }, () => ({ href: parseURL(url).href })));
}

// new WebSocket(url, protocols): tokens, offered once each.
const protocolLists = [
  [],
  ['chat'],
  ['chat', 'superchat'],
  ["!#$%&'*+-.^_`|~09AZaz"],
  ['chat', 'chat'],
  ['chat', 'Chat'],
  ['a', 'b', 'A'],
  [''],
  ['a b'],
  ['a,b'],
  ['chat/1'],
  ['x{y}'],
  ['"q"'],
  ['a\tb'],
  ['é'],
  ['chat', ''],
];
for (const protocols of protocolLists) {
  rows.push(verdict({ kind: 'protocols', protocols }, () => {
    checkProtocols(protocols);
    return {};
  }));
}

for (const row of rows) console.log(JSON.stringify(row));
