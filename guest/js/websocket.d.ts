// Types of the JavaScript guest SDK's main module (`wit-websocket-guest`):
// the browser's WebSocket API for componentize-js components.

/** What `main` returns: the component's `wasi:cli/run` export. */
export interface Run {
  run(): void;
}

/** The WIT `handler` export; re-export it from the component's entry. */
export declare const handler: unknown;

/** The WIT `watch-handler` export (timers); re-export it from the entry. */
export declare const watchHandler: { onReady(id: bigint): void };

/**
 * The `wasi:cli/run` export: calls `start` with the command line (`args[0]`
 * is the program's name). Sockets and timers it creates live on after it
 * returns. A throw, or a rejected promise, prints the error and exits with 1.
 *
 * ```js
 * import { main, WebSocket } from 'wit-websocket-guest';
 * export { handler, watchHandler } from 'wit-websocket-guest';
 * export const run = main((args) => {
 *   const ws = new WebSocket(args[1]);
 *   ws.onmessage = (event) => console.log(event.data);
 * });
 * ```
 */
export declare function main(start: (args: string[]) => void | Promise<void>): Run;

export declare function setTimeout(handler: (...args: any[]) => void, timeout?: number, ...args: any[]): number;
export declare function setInterval(handler: (...args: any[]) => void, timeout?: number, ...args: any[]): number;
export declare function clearTimeout(id?: number): void;
export declare function clearInterval(id?: number): void;

export interface MessageEventInit<T = any> extends EventInit {
  data?: T;
  origin?: string;
  lastEventId?: string;
}

/** A message received on a WebSocket (the DOM's MessageEvent). */
export declare class MessageEvent<T = any> extends Event {
  constructor(type: string, init?: MessageEventInit<T>);
  readonly data: T;
  readonly origin: string;
  readonly lastEventId: string;
  readonly source: null;
  readonly ports: readonly unknown[];
}

export interface CloseEventInit extends EventInit {
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/** A WebSocket's close (the DOM's CloseEvent). */
export declare class CloseEvent extends Event {
  constructor(type: string, init?: CloseEventInit);
  readonly wasClean: boolean;
  readonly code: number;
  readonly reason: string;
}

export type BinaryType = 'blob' | 'arraybuffer';

export interface WebSocketEventMap {
  open: Event;
  message: MessageEvent;
  error: Event;
  close: CloseEvent;
}

/** The browser's WebSocket (WHATWG), on the host's sockets. */
export declare class WebSocket extends EventTarget {
  constructor(url: string | URL, protocols?: string | string[]);
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  readonly url: string;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly bufferedAmount: number;
  readonly extensions: string;
  readonly protocol: string;
  binaryType: BinaryType;
  onopen: ((this: WebSocket, event: Event) => any) | null;
  onmessage: ((this: WebSocket, event: MessageEvent) => any) | null;
  onerror: ((this: WebSocket, event: Event) => any) | null;
  onclose: ((this: WebSocket, event: CloseEvent) => any) | null;
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: (this: WebSocket, event: WebSocketEventMap[K]) => any,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: (this: WebSocket, event: WebSocketEventMap[K]) => any,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}
