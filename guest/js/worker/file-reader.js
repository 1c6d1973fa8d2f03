// Part of the prelude (see run-time.js): one block with the other parts, in
// the order bundle.mjs lists them.
// FileReader, over Blob's own readers (engine.io's long-polling reads
// binary messages with readAsDataURL).
class FileReader extends EventTarget {
  #state = 0;
  #result = null;
  #error = null;
  #reading = 0; // which read is current: abort and a new read end the old
  constructor() {
    super();
    for (const type of ['loadstart', 'progress', 'load', 'error', 'abort', 'loadend']) this[`on${type}`] = null;
  }
  get readyState() { return this.#state; }
  get result() { return this.#result; }
  get error() { return this.#error; }
  readAsArrayBuffer(blob) { this.#read(blob, (bytes) => bytes.buffer); }
  readAsText(blob, encoding = 'utf-8') { this.#read(blob, (bytes) => new TextDecoder(encoding).decode(bytes)); }
  readAsBinaryString(blob) {
    this.#read(blob, (bytes) => {
      let text = '';
      for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return text;
    });
  }
  readAsDataURL(blob) {
    this.#read(blob, (bytes) => {
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return `data:${blob.type || 'application/octet-stream'};base64,${btoa(binary)}`;
    });
  }
  abort() {
    if (this.#state !== 1) return;
    this.#reading += 1;
    this.#state = 2;
    this.#result = null;
    this.#fire('abort');
    this.#fire('loadend');
  }
  #read(blob, convert) {
    if (!(blob instanceof Blob)) throw new TypeError('FileReader: the argument is not a Blob');
    if (this.#state === 1) throw new DOMException('FileReader: already reading', 'InvalidStateError');
    const reading = ++this.#reading;
    this.#state = 1;
    this.#result = null;
    this.#error = null;
    this.#fire('loadstart');
    blob.arrayBuffer().then(
      (buffer) => {
        if (reading !== this.#reading) return;
        this.#state = 2;
        this.#result = convert(new Uint8Array(buffer));
        this.#fire('load');
        this.#fire('loadend');
      },
      (error) => {
        if (reading !== this.#reading) return;
        this.#state = 2;
        this.#error = error;
        this.#fire('error');
        this.#fire('loadend');
      },
    );
  }
  #fire(type) {
    fire(this, new Event(type));
  }
  get [Symbol.toStringTag]() {
    return 'FileReader';
  }
}
defineConstants(FileReader, { EMPTY: 0, LOADING: 1, DONE: 2 });
if (typeof global.FileReader !== 'function') define(global, 'FileReader', FileReader);
