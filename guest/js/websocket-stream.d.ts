// Types of `wit-websocket-guest/stream`: WebSocketStream (promises and
// streams, with backpressure) and Turbulenz's NetworkDevice (pulled once per frame).

/** Buffered bytes above which a WebSocketStream's writer waits. */
export declare const HIGH_WATER_MARK: number;
/** Buffered bytes below which a waiting writer resumes. */
export declare const LOW_WATER_MARK: number;

export interface WebSocketCloseInfo {
  closeCode?: number;
  reason?: string;
}

export interface WebSocketStreamOptions {
  protocols?: string[];
  signal?: AbortSignal;
}

export interface WebSocketOpenInfo {
  readable: ReadableStream<string | Uint8Array>;
  writable: WritableStream<string | BufferSource>;
  extensions: string;
  protocol: string;
}

/** Why a WebSocketStream failed or closed (WHATWG WebSocketError). */
export declare class WebSocketError extends DOMException {
  constructor(message?: string, init?: WebSocketCloseInfo);
  readonly closeCode: number | null;
  readonly reason: string;
}

/**
 * A WebSocket as a pair of streams (WHATWG WebSocketStream).
 *
 * ```js
 * import { WebSocketStream } from 'wit-websocket-guest/stream';
 * const wss = new WebSocketStream('ws://127.0.0.1:9001/');
 * const { readable, writable } = await wss.opened;
 * ```
 */
export declare class WebSocketStream {
  constructor(url: string | URL, options?: WebSocketStreamOptions);
  readonly url: string;
  readonly opened: Promise<WebSocketOpenInfo>;
  readonly closed: Promise<WebSocketCloseInfo>;
  close(closeInfo?: WebSocketCloseInfo): void;
}

/** Turbulenz's WebSocket: events are delivered by `NetworkDevice.update()`. */
export interface TurbulenzWebSocket {
  readonly readyState: 0 | 1 | 2 | 3;
  onopen: (() => void) | null;
  onmessage: ((message: { data: string | ArrayBuffer }) => void) | null;
  onerror: ((error: { error: string }) => void) | null;
  onclose: ((close: { code: number; reason: string; wasClean: boolean }) => void) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView): boolean;
  close(code?: number, reason?: string): void;
  destroy(): void;
}

/** Turbulenz's NetworkDevice: a game calls `update()` once per frame. */
export declare class NetworkDevice {
  createWebSocket(url: string, protocol?: string | string[]): TurbulenzWebSocket | null;
  update(): void;
}
