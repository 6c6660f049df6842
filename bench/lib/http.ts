// A minimal HTTP/1.1 keep-alive client over raw sockets: one request in flight per
// connection, responses parsed by hand (status, content-length or chunked, two headers).
// fetch() costs several times more CPU per request, and the load generator shares two
// cores with the servers it measures, so its own cost must stay small (its CPU is reported).
import { connect, type Socket } from 'node:net';

export interface HttpResponse {
  readonly status: number;
  /** X-Shoal-Context, when the server sent one. */
  readonly context: string | undefined;
  readonly bodyBytes: number;
}

export interface HttpRequest {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  readonly path: string;
  /** Extra header lines, each ending in \r\n. */
  readonly headers?: string;
  readonly body?: Buffer;
}

const CRLF2 = Buffer.from('\r\n\r\n');

interface Pending {
  resolve(res: HttpResponse): void;
  reject(err: Error): void;
  headOnly: boolean;
}

export class HttpConnection {
  private socket: Socket | undefined;
  private connecting: Promise<void> | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  private readonly hostHeader: string;

  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    this.hostHeader = `Host: ${host}:${port}\r\n`;
  }

  private open(): Promise<void> {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve();
    this.connecting ??= new Promise<void>((resolve, reject) => {
      const s = connect({ host: this.host, port: this.port, noDelay: true });
      const onErr = (err: Error) => {
        this.connecting = undefined;
        reject(err);
      };
      s.once('error', onErr);
      s.once('connect', () => {
        s.off('error', onErr);
        s.on('error', (err) => this.fail(err));
        s.on('close', () => this.fail(new Error('connection closed')));
        s.on('data', (chunk: Buffer) => this.onData(chunk));
        this.socket = s;
        this.connecting = undefined;
        resolve();
      });
    });
    return this.connecting;
  }

  private fail(err: Error): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.buf = Buffer.alloc(0);
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    if (this.pending !== undefined) throw new Error('one request at a time per connection');
    await this.open();
    const body = req.body;
    const head =
      `${req.method} ${req.path} HTTP/1.1\r\n${this.hostHeader}${req.headers ?? ''}` +
      (body !== undefined ? `Content-Length: ${body.length}\r\n\r\n` : req.method === 'GET' ? '\r\n' : 'Content-Length: 0\r\n\r\n');
    return new Promise<HttpResponse>((resolve, reject) => {
      this.pending = { resolve, reject, headOnly: false };
      const s = this.socket!;
      if (body !== undefined && body.length > 0) {
        s.cork();
        s.write(head, 'latin1');
        s.write(body);
        s.uncork();
      } else {
        s.write(head, 'latin1');
      }
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.parse();
  }

  private parse(): void {
    const headEnd = this.buf.indexOf(CRLF2);
    if (headEnd < 0) return;
    const head = this.buf.toString('latin1', 0, headEnd);
    const lines = head.split('\r\n');
    const status = Number((lines[0] ?? '').slice(9, 12));
    let contentLength = -1;
    let chunked = false;
    let context: string | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const c0 = line.charCodeAt(0) | 0x20;
      // Only three headers matter; test the first letter before lower-casing the name.
      if (c0 !== 99 && c0 !== 116 && c0 !== 120) continue; // c, t, x
      const name = line.slice(0, colon).toLowerCase();
      if (name === 'content-length') contentLength = Number(line.slice(colon + 1).trim());
      else if (name === 'transfer-encoding') chunked = /chunked/i.test(line.slice(colon + 1));
      else if (name === 'x-shoal-context') context = line.slice(colon + 1).trim();
    }
    const bodyStart = headEnd + 4;
    let bodyBytes = 0;
    let end: number;
    if (chunked) {
      // Walk the chunks; wait for more data if the last one has not arrived.
      let pos = bodyStart;
      for (;;) {
        const lineEnd = this.buf.indexOf('\r\n', pos, 'latin1');
        if (lineEnd < 0) return;
        const size = parseInt(this.buf.toString('latin1', pos, lineEnd), 16);
        if (size === 0) {
          const trailerEnd = this.buf.indexOf('\r\n', lineEnd + 2, 'latin1');
          if (trailerEnd < 0) return;
          end = trailerEnd + 2;
          break;
        }
        if (this.buf.length < lineEnd + 2 + size + 2) return;
        bodyBytes += size;
        pos = lineEnd + 2 + size + 2;
      }
    } else {
      const len = status === 204 || status === 304 || contentLength < 0 ? 0 : contentLength;
      if (this.buf.length < bodyStart + len) return;
      bodyBytes = len;
      end = bodyStart + len;
    }
    this.buf = end >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(end);
    const p = this.pending;
    this.pending = undefined;
    p?.resolve({ status, context, bodyBytes });
  }

  close(): void {
    const s = this.socket;
    this.socket = undefined;
    s?.removeAllListeners('close');
    s?.destroy();
  }
}
