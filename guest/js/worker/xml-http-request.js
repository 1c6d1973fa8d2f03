// Part of the prelude (see run-time.js): one block with the other parts, in
// the order bundle.mjs lists them.
//
// XMLHttpRequest, asynchronous, over `fetch` (so over the host's wasi:http
// and its network policy: build with `guest/componentize --fetch`).
// Workers have it, and older libraries (engine.io's long-polling, for one)
// use it before they open a WebSocket. Synchronous requests would block
// the guest's only thread: `open(..., false)` throws, as in a service
// worker.
class XMLHttpRequest extends EventTarget {
  #state = 0;
  #method = 'GET';
  #url = '';
  #headers = [];
  #sent = false;
  #controller = null;
  #timer = null;
  #status = 0;
  #statusText = '';
  #responseURL = '';
  #responseHeaders = null;
  #response = null;
  #text = '';
  constructor() {
    super();
    this.responseType = '';
    this.timeout = 0;
    this.withCredentials = false;
    for (const type of ['readystatechange', 'loadstart', 'progress', 'load', 'error', 'abort', 'timeout', 'loadend']) {
      this[`on${type}`] = null;
    }
  }
  get readyState() { return this.#state; }
  get status() { return this.#status; }
  get statusText() { return this.#statusText; }
  get responseURL() { return this.#responseURL; }
  get responseText() {
    if (this.responseType !== '' && this.responseType !== 'text') {
      throw new DOMException("responseText: responseType is not '' or 'text'", 'InvalidStateError');
    }
    return this.#text;
  }
  get response() {
    return this.responseType === '' || this.responseType === 'text' ? this.#text : this.#response;
  }
  open(method, url, async = true) {
    if (arguments.length < 2) throw new TypeError('XMLHttpRequest.open: At least 2 arguments required');
    if (async === false) {
      throw new DOMException('XMLHttpRequest.open: a synchronous request would block the guest', 'InvalidAccessError');
    }
    this.#reset();
    this.#method = String(method).toUpperCase();
    try {
      this.#url = new URL(String(url), global.location?.href).href;
    } catch {
      throw new DOMException(`XMLHttpRequest.open: '${url}' is not a URL`, 'SyntaxError');
    }
    this.#setState(1);
  }
  setRequestHeader(name, value) {
    if (this.#state !== 1 || this.#sent) {
      throw new DOMException('XMLHttpRequest.setRequestHeader: call open first, and send after', 'InvalidStateError');
    }
    this.#headers.push([String(name), String(value)]);
  }
  getResponseHeader(name) {
    return this.#responseHeaders?.get(String(name)) ?? null;
  }
  getAllResponseHeaders() {
    if (this.#responseHeaders === null) return '';
    return [...this.#responseHeaders].map(([name, value]) => `${name}: ${value}\r\n`).join('');
  }
  overrideMimeType() {}
  send(body = null) {
    if (this.#state !== 1 || this.#sent) {
      throw new DOMException('XMLHttpRequest.send: call open first, once', 'InvalidStateError');
    }
    this.#sent = true;
    const controller = new AbortController();
    this.#controller = controller;
    this.#fire('loadstart');
    if (this.timeout > 0) {
      this.#timer = global.setTimeout(() => this.#fail('timeout', controller), this.timeout);
    }
    // Without wasi:http (no --fetch) fetch rejects (see fetch.js): a
    // network error, as a page without network sees one.
    const withBody = this.#method !== 'GET' && this.#method !== 'HEAD';
    global.fetch(this.#url, { method: this.#method, headers: this.#headers, body: withBody ? body : undefined, signal: controller.signal })
      .then(async (response) => {
        if (this.#controller !== controller) return;
        this.#status = response.status;
        this.#statusText = response.statusText;
        this.#responseURL = response.url;
        this.#responseHeaders = response.headers;
        this.#setState(2);
        this.#setState(3);
        switch (this.responseType) {
          case 'arraybuffer': this.#response = await response.arrayBuffer(); break;
          case 'blob': this.#response = await response.blob(); break;
          case 'json': {
            const text = await response.text();
            try {
              this.#response = JSON.parse(text);
            } catch {
              this.#response = null;
            }
            break;
          }
          default: this.#text = await response.text();
        }
        if (this.#controller !== controller) return;
        this.#done();
        this.#setState(4);
        this.#fire('load');
        this.#fire('loadend');
      })
      .catch(() => this.#fail('error', controller));
  }
  abort() {
    const controller = this.#controller;
    if (controller === null) return;
    this.#fail('abort', controller);
    // As the spec has it: DONE for the events, UNSENT after.
    this.#state = 0;
  }
  #reset() {
    this.#controller?.abort();
    this.#done();
    this.#state = 0;
    this.#sent = false;
    this.#headers = [];
    this.#status = 0;
    this.#statusText = '';
    this.#responseURL = '';
    this.#responseHeaders = null;
    this.#response = null;
    this.#text = '';
  }
  #done() {
    if (this.#timer !== null) global.clearTimeout(this.#timer);
    this.#timer = null;
    this.#controller = null;
  }
  // A request that ended without a response: `type` is error, abort or timeout.
  #fail(type, controller) {
    if (this.#controller !== controller) return;
    controller.abort();
    this.#done();
    this.#status = 0;
    this.#statusText = '';
    this.#setState(4);
    this.#fire(type);
    this.#fire('loadend');
  }
  #setState(state) {
    this.#state = state;
    this.#fire('readystatechange');
  }
  #fire(type) {
    fire(this, new Event(type));
  }
  get [Symbol.toStringTag]() {
    return 'XMLHttpRequest';
  }
}
defineConstants(XMLHttpRequest, { UNSENT: 0, OPENED: 1, HEADERS_RECEIVED: 2, LOADING: 3, DONE: 4 });
define(global, 'XMLHttpRequest', XMLHttpRequest);
