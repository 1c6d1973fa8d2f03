// webidl.js: WebIDL's side of the API: arguments converted as WebIDL says
// (then checked by rules.js), and interfaces exposed as WebIDL lays them
// out. Conversions only: no host calls, no state, nothing done on import.

import { checkCloseCode, checkCloseReason, checkProtocols } from './rules.js';

// WebIDL's DOMString conversion: ToString, which (unlike `String()`) throws
// a TypeError for a Symbol.
export function toDOMString(value) {
  return `${value}`;
}

// WebIDL `[Clamp] unsigned short`: clamped to 0..65535, rounded half to even.
export function clampUint16(value) {
  const number = Number(value);
  if (Number.isNaN(number)) return 0;
  const clamped = Math.min(Math.max(number, 0), 65535);
  const rounded = Math.round(clamped);
  return rounded - clamped === 0.5 && rounded % 2 === 1 ? rounded - 1 : rounded;
}

// close()'s arguments: the code a `[Clamp] unsigned short`, the reason a
// USVString, each checked (rules.js) as soon as converted. Returns them as
// the host takes them.
export function checkClose(caller, code, reason) {
  if (code !== undefined) code = checkCloseCode(caller, clampUint16(code));
  if (reason !== undefined) reason = checkCloseReason(caller, toDOMString(reason).toWellFormed());
  return [code, reason];
}

// `protocols` is a string or a sequence of strings; the list is checked
// (rules.js) and returned.
export function parseProtocols(protocols) {
  const list = typeof protocols === 'object' && protocols !== null && typeof protocols[Symbol.iterator] === 'function'
    ? Array.from(protocols, toDOMString)
    : [toDOMString(protocols)];
  return checkProtocols(list);
}

// An interface as WebIDL exposes it: attributes and operations enumerable
// on the prototype (class syntax makes them non-enumerable; members made
// non-configurable, as constants, are left alone), the class string, and
// the class on `globalThis` under `name` (given, not `cls.name`: a bundler
// may rename the bindings).
export function exposeInterface(name, cls) {
  for (const member of Object.getOwnPropertyNames(cls.prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(cls.prototype, member);
    if (member !== 'constructor' && descriptor.configurable) {
      Object.defineProperty(cls.prototype, member, { ...descriptor, enumerable: true });
    }
  }
  Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  Object.defineProperty(globalThis, name, { value: cls, writable: true, configurable: true });
  // What a library kept of `name` before this ran now stands for `cls` (see
  // worker/early-bindings.js).
  globalThis[Symbol.for('wit-websocket.define-class')]?.(name, cls);
}
