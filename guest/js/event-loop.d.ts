// Types of `wit-websocket-guest/event-loop`: timers and wake-ups on the host's event loop.

/**
 * Calls `callback` once `pollable` (a `wasi:io/poll` pollable) is ready.
 * Returns a function that cancels the watch.
 */
export declare function watch(pollable: unknown, callback: () => void): () => void;
export declare const watchHandler: { onReady(id: bigint): void };
export declare function setTimeout(handler: (...args: any[]) => void, timeout?: number, ...args: any[]): number;
export declare function setInterval(handler: (...args: any[]) => void, timeout?: number, ...args: any[]): number;
export declare function clearTimeout(id?: number): void;
export declare function clearInterval(id?: number): void;
/** Starts the timers' loop; `main` calls it. */
export declare function startEventLoop(): void;
