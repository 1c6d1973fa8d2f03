// rules.js: the checks the WHATWG WebSocket spec makes before any call to
// the host (the constructor's URL and subprotocols, close()'s code and
// reason), with the exact error each throws. Arguments come already
// converted (see webidl.js). It imports nothing and touches no state, so plain
// `node` can load it (test/rules-table.mjs prints its verdicts, which the host's
// rules in host/src/rules.rs are compared with).

// A subprotocol must be an RFC 2616 token: U+0021..U+007E minus separators.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The longest close reason, in bytes of UTF-8. */
export const MAX_CLOSE_REASON_BYTES = 123;

const utf8 = new TextEncoder();

// The constructor's URL steps: parsed against `base` (the worker's location,
// as a page's document URL; none: absolute only), http(s) mapped to ws(s),
// ws or wss, no fragment (not even an empty one, hence the search for '#').
export function parseURL(url, base = undefined) {
  let parsed;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new DOMException(`WebSocket: '${url}' is not ${base === undefined ? 'an absolute URL' : `a URL (against ${base})`}`, 'SyntaxError');
  }
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new DOMException(`WebSocket: the URL's scheme must be ws or wss, not '${parsed.protocol.slice(0, -1)}'`, 'SyntaxError');
  }
  if (parsed.href.includes('#')) {
    throw new DOMException('WebSocket: the URL must not have a fragment', 'SyntaxError');
  }
  return parsed;
}

// The subprotocols offered (strings): each must be a token, and none may be
// offered twice (compared ASCII case-insensitively: tokens are ASCII).
// Returns `list`.
export function checkProtocols(list) {
  const offered = new Set();
  for (const protocol of list) {
    if (!TOKEN.test(protocol)) {
      throw new DOMException(`WebSocket: '${protocol}' is not a valid subprotocol`, 'SyntaxError');
    }
    const folded = protocol.toLowerCase();
    if (offered.has(folded)) {
      throw new DOMException(`WebSocket: the subprotocol '${protocol}' is offered twice`, 'SyntaxError');
    }
    offered.add(folded);
  }
  return list;
}

// close()'s code (an unsigned short): 1000 or in 3000-4999. Returns it.
export function checkCloseCode(caller, code) {
  if (code !== 1000 && (code < 3000 || code > 4999)) {
    throw new DOMException(`${caller}: the code must be 1000 or in 3000-4999, not ${code}`, 'InvalidAccessError');
  }
  return code;
}

// close()'s reason (a USVString): at most 123 bytes of UTF-8. Returns it.
export function checkCloseReason(caller, reason) {
  if (utf8.encode(reason).length > MAX_CLOSE_REASON_BYTES) {
    throw new DOMException(`${caller}: the reason is longer than 123 bytes of UTF-8`, 'SyntaxError');
  }
  return reason;
}
