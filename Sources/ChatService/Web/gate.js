// The gate's HTTP API (Goverse's): object calls with credentials, and the event stream
// that carries pushes. Knows nothing of chat.

export class GateError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // HTTP status; 0: the gate could not be reached
    this.code = code;
  }
  // Worth trying again once connected (not the caller's mistake).
  get isTransient() { return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504; }
}

export class Gate {
  constructor(base = '') {
    this.base = base; // '' when the page is served by the gate itself
    this.credentials = null;
    this.clientId = null;
  }

  async call(type, id, method, request) {
    const headers = { 'Content-Type': 'application/json' };
    if (this.credentials) {
      headers['X-Goverse-Auth'] = JSON.stringify({ 'x-username': this.credentials.user, 'x-password': this.credentials.password });
    }
    if (this.clientId) headers['X-Client-ID'] = this.clientId;
    const path = [type, id, method].map(encodeURIComponent).join('/');
    let response;
    try {
      response = await fetch(`${this.base}/api/v1/objects/call/${path}`, {
        method: 'POST', headers, body: JSON.stringify({ request }),
      });
    } catch (error) {
      throw new GateError(0, 'UNREACHABLE', 'the gate cannot be reached');
    }
    let body = {};
    try { body = await response.json(); } catch { /* not JSON: a proxy's page */ }
    if (!response.ok) {
      throw new GateError(response.status, body.code || 'HTTP_' + response.status, body.error || response.statusText);
    }
    return body.response;
  }

  // Opens the event stream; calls onOpen(clientId) once registered, onPush(type, payload)
  // per push, onLost() when the stream breaks (then it is closed: reconnecting is the
  // caller's choice, with its own backoff).
  openEvents({ onOpen, onPush, onLost }) {
    this.closeEvents();
    const source = new EventSource(`${this.base}/api/v1/events/stream`);
    this.source = source;
    source.addEventListener('register', (event) => {
      this.clientId = JSON.parse(event.data).clientId;
      onOpen(this.clientId);
    });
    source.addEventListener('message', (event) => {
      const data = JSON.parse(event.data);
      onPush(data.type, data.payload);
    });
    source.onerror = () => {
      if (this.source !== source) return;
      this.closeEvents();
      onLost();
    };
  }

  closeEvents() {
    if (this.source) this.source.close();
    this.source = null;
    this.clientId = null;
  }
}
