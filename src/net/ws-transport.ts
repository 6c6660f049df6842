// The Transport port over WebSockets: one connection per pair of peers, used both ways,
// msgpackr frames (frame.ts), mutual HMAC handshake before anything else, per-call
// timeouts, bounded per-peer queues, and on-demand reconnect with capped backoff.
//
// Handshake (both sides prove the cluster secret; the secret never goes on the wire):
//   server → HELLO     { server: id, nonce: Ns }
//   client → CHALLENGE { client: id, nonce: Nc, proof: HMAC(secret, "c"|Ns|Nc|client|server) }
//   server → PROOF     { proof: HMAC(secret, "s"|Nc|Ns|server|client) }
// The labels differ so a proof cannot be reflected back. The client also checks that the
// server is the node it meant to dial (its id is bound into the server's proof).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Clock, Random, TimerHandle } from '../core/time.ts';
import type { NodeId } from '../core/types.ts';
import { utf8Prefix } from '../core/utf8.ts';
import { mathRandom, realClock } from '../runtime/clock.ts';
import type { Logger } from '../runtime/logger.ts';
import {
  PeerError,
  type Message,
  type OneWayHandler,
  type PeerAddress,
  type RequestHandler,
  type Transport,
} from './transport.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameError,
  FrameKind,
  decodeFrame,
  encodeFrame,
  errorBody,
  type Frame,
} from './frame.ts';
import { MsgType, isControlMsgType, msgTypeName } from './messages.ts';

export type LinkVerdict = 'pass' | 'drop';
export type LinkFilter = (peer: NodeId) => LinkVerdict;

export interface WsTransportOptions {
  readonly self: NodeId;
  /** Cluster secret; every peer must know it. */
  readonly secret: string | Uint8Array;
  /** Port 0 picks a free port; address() reports the bound one after start(). */
  readonly listen: PeerAddress;
  /** Largest frame sent or accepted (bytes); bigger ones are refused. Default 16 MiB. */
  readonly maxFrameBytes?: number;
  /** Pending calls + unsent one-way frames per peer; beyond it call() fails BACKPRESSURE. */
  readonly maxQueuedPerPeer?: number;
  /**
   * Incoming requests handled at once per connection; more are answered with an error.
   * The caller's own queue bound normally keeps this low; this caps a misbehaving peer.
   */
  readonly maxInflightPerPeer?: number;
  /** Bytes the socket may hold unsent before call() fails BACKPRESSURE and send() drops. */
  readonly maxBufferedBytes?: number;
  /** TCP connect + HTTP upgrade. */
  readonly connectTimeoutMs?: number;
  /** From socket open to a verified peer; also how long a server waits for a silent client. */
  readonly handshakeTimeoutMs?: number;
  /** Redial delay after a failed dial: doubles per failure, capped, with jitter. */
  readonly backoff?: { readonly minMs: number; readonly maxMs: number };
  readonly log: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
  /**
   * TLS for peer links (wss). The HMAC handshake authenticates peers either way; TLS adds
   * confidentiality. Peers verify each other's certificate against `ca`.
   */
  readonly tls?: PeerTls;
}

export interface PeerTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** Trusted CA(s) for peer certificates; defaults to the system store. */
  readonly ca?: string | Buffer;
}

export interface WsTransport extends Transport {
  readonly stats: { readonly framesOut: number; readonly framesIn: number; readonly bytesOut: number; readonly bytesIn: number };
  /** The bound address (after start()). */
  address(): PeerAddress;
  /** Fault hook (chaos tests): 'drop' discards data frames to and from that peer. */
  setLinkFilter(fn: LinkFilter | null): void;
}

/** WebSocket close codes (4000–4999 are for applications). */
export const CloseCode = {
  GOING_AWAY: 1001,
  DUPLICATE: 4000,
  AUTH_FAILED: 4001,
  PROTOCOL: 4002,
  BAD_FRAME: 4003,
  HANDSHAKE_TIMEOUT: 4004,
} as const;

const NODE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code. */
const MAX_CLOSE_REASON_BYTES = 123;
const NONCE_BYTES = 32;

interface Conn {
  readonly ws: WebSocket;
  /** True when we dialled it. */
  readonly outbound: boolean;
  /** Known from the start when dialling; learned from CHALLENGE when accepting. */
  peer: NodeId | undefined;
  /** 'retired': a duplicate being closed; still read (answers may be on it), never written. */
  state: 'handshake' | 'open' | 'retired' | 'closed';
  /** Our nonce: Ns when accepting, Nc when dialling. */
  readonly nonce: Buffer;
  /** The other side's nonce, once seen. */
  theirNonce: Buffer | undefined;
  timer: TimerHandle | undefined;
  /** Incoming requests being handled on this connection. */
  inflight: number;
  readonly remote: string;
}

interface PendingCall {
  readonly resolve: (m: Message) => void;
  readonly reject: (e: Error) => void;
  readonly timer: TimerHandle;
  /** The connection the request went out on; undefined while it waits in the outbox. */
  conn: Conn | undefined;
}

interface Peer {
  readonly id: NodeId;
  address: PeerAddress | undefined;
  conn: Conn | undefined;
  dialing: Conn | undefined;
  /** Frames waiting for a connection (calls: id > 0, one-way: id 0). */
  outbox: Array<{ readonly bytes: Buffer; readonly id: number }>;
  outboxOneWay: number;
  /** Our calls to this peer, by request id (ids are ours, so no clash with theirs). */
  readonly pending: Map<number, PendingCall>;
  failures: number;
  /** No dial before this time; calls fail UNREACHABLE meanwhile. */
  retryAtMs: number;
}

export function createWsTransport(opts: WsTransportOptions): WsTransport {
  return new WsTransportImpl(opts);
}

class WsTransportImpl implements WsTransport {
  readonly self: NodeId;
  private readonly secret: Buffer;
  private readonly maxFrameBytes: number;
  private readonly maxQueuedPerPeer: number;
  private readonly maxInflightPerPeer: number;
  private readonly maxBufferedBytes: number;
  private readonly connectTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly backoff: { readonly minMs: number; readonly maxMs: number };
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly listen: PeerAddress;

  private wss: WebSocketServer | undefined;
  /** The HTTPS server under `wss` when peer TLS is on (ws closes only its own server). */
  private httpsServer: HttpsServer | undefined;
  private readonly opts: WsTransportOptions;
  private bound: PeerAddress | undefined;
  private running = false;
  private nextId = 1;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly conns = new Set<Conn>();
  private requestHandler: RequestHandler | undefined;
  private messageHandler: OneWayHandler | undefined;
  private linkFilter: LinkFilter | null = null;
  private readonly corked = new WeakSet<Conn>();
  /** Frame and byte counts, for metrics (peer messages per client operation). */
  readonly stats = { framesOut: 0, framesIn: 0, bytesOut: 0, bytesIn: 0 };

  constructor(opts: WsTransportOptions) {
    this.opts = opts;
    if (!NODE_ID_RE.test(opts.self)) throw new Error(`invalid node id ${opts.self}`);
    this.self = opts.self;
    this.secret = Buffer.from(opts.secret);
    if (this.secret.length === 0) throw new Error('cluster secret must not be empty');
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxQueuedPerPeer = opts.maxQueuedPerPeer ?? 1024;
    this.maxInflightPerPeer = opts.maxInflightPerPeer ?? 1024;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2_000;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 2_000;
    this.backoff = opts.backoff ?? { minMs: 100, maxMs: 5_000 };
    this.log = opts.log;
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? mathRandom;
    this.listen = opts.listen;
  }

  // ----- lifecycle -----

  async start(): Promise<void> {
    if (this.running) return;
    const tls = this.opts.tls;
    let wss: WebSocketServer;
    if (tls) {
      const server = createHttpsServer({ cert: tls.cert, key: tls.key });
      wss = new WebSocketServer({ server, maxPayload: this.maxFrameBytes, perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.listen.port, this.listen.host, () => resolve());
      });
      this.httpsServer = server;
    } else {
      wss = new WebSocketServer({
        host: this.listen.host,
        port: this.listen.port,
        maxPayload: this.maxFrameBytes,
        perMessageDeflate: false,
      });
      await new Promise<void>((resolve, reject) => {
        wss.once('listening', resolve);
        wss.once('error', reject);
      });
    }
    wss.on('error', (err) => this.log.error({ err }, 'ws server error'));
    wss.on('connection', (ws, req) => {
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
      this.accept(ws, remote);
    });
    const addr = (this.httpsServer ?? wss).address() as AddressInfo;
    this.bound = { host: this.listen.host, port: addr.port };
    this.wss = wss;
    this.running = true;
    this.log.info({ node: this.self, address: this.bound }, 'peer transport listening');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const peer of this.peers.values()) {
      for (const [id, p] of peer.pending) {
        this.settle(peer, id, p);
        p.reject(new PeerError('CLOSED', peer.id, 'transport stopped'));
      }
      peer.outbox = [];
      peer.outboxOneWay = 0;
    }
    const closing = [...this.conns].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          this.close(c, CloseCode.GOING_AWAY, 'shutting down', 'debug');
          // A peer that never answers the close handshake is cut off.
          const t = this.clock.setTimeout(() => c.ws.terminate(), 500);
          c.ws.once('close', () => t.cancel());
        }),
    );
    await Promise.all(closing);
    const wss = this.wss;
    this.wss = undefined;
    if (wss) await new Promise<void>((resolve) => wss.close(() => resolve()));
    const https = this.httpsServer;
    this.httpsServer = undefined;
    if (https) await new Promise<void>((resolve) => https.close(() => resolve()));
  }

  address(): PeerAddress {
    if (!this.bound) throw new Error('transport not started');
    return this.bound;
  }

  setLinkFilter(fn: LinkFilter | null): void {
    this.linkFilter = fn;
  }

  setPeerAddress(peerId: NodeId, address: PeerAddress): void {
    const peer = this.peer(peerId);
    const changed = peer.address?.host !== address.host || peer.address?.port !== address.port;
    peer.address = address;
    if (changed) peer.retryAtMs = 0; // a new address deserves a prompt try
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  onMessage(handler: OneWayHandler): void {
    this.messageHandler = handler;
  }

  // ----- calls -----

  call(peerId: NodeId, msg: Message, timeoutMs: number): Promise<Message> {
    if (!this.running) return failCall('CLOSED', peerId, 'transport not running');
    const peer = this.peers.get(peerId);
    const conn = peer?.conn;
    if (!peer || (!conn && !peer.address)) return failCall('UNREACHABLE', peerId, `no address for ${peerId}`);
    if (!conn && !peer.dialing && this.clock.now() < peer.retryAtMs) {
      return failCall('UNREACHABLE', peerId, `${peerId} unreachable, backing off`);
    }
    const queued = peer.pending.size + peer.outboxOneWay;
    if (queued >= this.maxQueuedPerPeer) return failCall('BACKPRESSURE', peerId, `${queued} frames queued to ${peerId}`);
    if (conn && conn.ws.bufferedAmount >= this.maxBufferedBytes) {
      return failCall('BACKPRESSURE', peerId, `${conn.ws.bufferedAmount} bytes buffered to ${peerId}`);
    }
    const id = this.nextId++;
    let bytes: Buffer;
    try {
      bytes = encodeFrame({ kind: FrameKind.REQUEST, id, body: msg }, this.maxFrameBytes);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<Message>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        const p = peer.pending.get(id);
        if (!p) return;
        this.settle(peer, id, p);
        reject(new PeerError('TIMEOUT', peerId, `no response from ${peerId} in ${timeoutMs} ms`));
      }, timeoutMs);
      peer.pending.set(id, { resolve, reject, timer, conn: undefined });
      this.write(peer, bytes, id);
    });
  }

  send(peerId: NodeId, msg: Message): void {
    if (!this.running) return;
    const peer = this.peers.get(peerId);
    if (!peer || (!peer.conn && !peer.address)) return;
    if (!peer.conn && !peer.dialing && this.clock.now() < peer.retryAtMs) return;
    if (peer.pending.size + peer.outboxOneWay >= this.maxQueuedPerPeer) return;
    if (peer.conn && peer.conn.ws.bufferedAmount >= this.maxBufferedBytes) return;
    let bytes: Buffer;
    try {
      bytes = encodeFrame({ kind: FrameKind.ONEWAY, id: 0, body: msg }, this.maxFrameBytes);
    } catch (err) {
      this.log.warn({ peer: peerId, err }, 'send: frame not encodable, dropped');
      return;
    }
    this.write(peer, bytes, 0);
  }

  /** Sends now if connected, else queues and dials. `id` > 0 marks a pending call. */
  private write(peer: Peer, bytes: Buffer, id: number): void {
    if (this.linkFilter?.(peer.id) === 'drop') return; // as if lost on the wire
    const conn = peer.conn;
    if (conn) {
      this.wsSend(conn, bytes);
      const p = peer.pending.get(id);
      if (p) p.conn = conn;
      return;
    }
    peer.outbox.push({ bytes, id });
    if (id === 0) peer.outboxOneWay++;
    this.ensureDial(peer);
  }

  private wsSend(conn: Conn, bytes: Buffer): void {
    this.stats.framesOut++;
    this.stats.bytesOut += bytes.length;
    // Cork the socket until the event loop's check phase: every frame produced while this
    // poll phase handles its I/O (many client requests, many peer frames) leaves in one
    // writev. process.nextTick would uncork after each I/O callback: a syscall per request.
    const socket = (conn.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (socket && !this.corked.has(conn)) {
      this.corked.add(conn);
      socket.cork();
      setImmediate(() => {
        this.corked.delete(conn);
        socket.uncork();
      });
    }
    conn.ws.send(bytes, { binary: true }, (err) => {
      // The close handler deals with what was pending on this connection.
      if (err) this.log.debug({ peer: conn.peer, err }, 'ws send failed');
    });
  }

  private settle(peer: Peer, id: number, p: PendingCall): void {
    p.timer.cancel();
    peer.pending.delete(id);
    if (!p.conn && peer.outbox.length > 0) peer.outbox = peer.outbox.filter((f) => f.id !== id);
  }

  /** Fails everything still waiting for a connection to `peer`. */
  private failOutbox(peer: Peer, why: string): void {
    const outbox = peer.outbox;
    peer.outbox = [];
    peer.outboxOneWay = 0;
    for (const f of outbox) {
      const p = peer.pending.get(f.id);
      if (f.id === 0 || !p) continue;
      this.settle(peer, f.id, p);
      p.reject(new PeerError('UNREACHABLE', peer.id, why));
    }
  }

  private peer(id: NodeId): Peer {
    let peer = this.peers.get(id);
    if (!peer) {
      peer = {
        id,
        address: undefined,
        conn: undefined,
        dialing: undefined,
        outbox: [],
        outboxOneWay: 0,
        pending: new Map(),
        failures: 0,
        retryAtMs: 0,
      };
      this.peers.set(id, peer);
    }
    return peer;
  }

  // ----- connections -----

  private ensureDial(peer: Peer): void {
    if (peer.dialing || peer.conn) return;
    if (!peer.address) return this.failOutbox(peer, `no address for ${peer.id}`);
    if (this.clock.now() < peer.retryAtMs) return this.failOutbox(peer, `${peer.id} unreachable, backing off`);
    const { host, port } = peer.address;
    const tls = this.opts.tls;
    const url = `${tls ? 'wss' : 'ws'}://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    const ws = new WebSocket(url, {
      handshakeTimeout: this.connectTimeoutMs,
      maxPayload: this.maxFrameBytes,
      perMessageDeflate: false,
      // RFC 6455 masks client frames so a browser's bytes cannot poison a proxy's cache. A
      // peer link has no browser and no proxy; an all-zero mask lets ws skip XORing every
      // byte on both ends (a hot key's object with many siblings is kilobytes per frame).
      generateMask: zeroMask,
      ...(tls && { ca: tls.ca, rejectUnauthorized: true }),
    });
    const conn = this.track(ws, true, peer.id, url);
    peer.dialing = conn;
    // Covers connect + upgrade + our handshake; a silent or slow server cannot hold the dial.
    conn.timer = this.clock.setTimeout(
      () => this.close(conn, CloseCode.HANDSHAKE_TIMEOUT, 'handshake timeout', 'warn'),
      this.connectTimeoutMs + this.handshakeTimeoutMs,
    );
  }

  private accept(ws: WebSocket, remote: string): void {
    if (!this.running) return void ws.terminate();
    const conn = this.track(ws, false, undefined, remote);
    conn.timer = this.clock.setTimeout(
      () => this.close(conn, CloseCode.HANDSHAKE_TIMEOUT, 'handshake timeout', 'warn'),
      this.handshakeTimeoutMs,
    );
    this.sendControl(conn, { t: MsgType.HELLO, server: this.self, nonce: conn.nonce });
  }

  private track(ws: WebSocket, outbound: boolean, peer: NodeId | undefined, remote: string): Conn {
    const conn: Conn = {
      ws,
      outbound,
      peer,
      state: 'handshake',
      nonce: randomBytes(NONCE_BYTES),
      theirNonce: undefined,
      timer: undefined,
      inflight: 0,
      remote,
    };
    this.conns.add(conn);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        this.onData(conn, data, isBinary);
      } catch (err) {
        // A bug here must cost one connection, never the process: a peer's bytes reach it.
        this.log.error({ peer: conn.peer, remote, err }, 'peer frame handling threw');
        this.markClosed(conn);
        ws.terminate();
      }
    });
    ws.on('error', (err: Error & { code?: string }) => {
      const level = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'warn' : 'debug';
      this.log[level]({ peer: conn.peer, remote, err: err.message, code: err.code }, 'ws connection error');
    });
    ws.on('close', (code: number, reason: Buffer) => this.onClosed(conn, code, reason.toString()));
    return conn;
  }

  /** Closes with a code and reason the peer sees, and a log line here. */
  private close(conn: Conn, code: number, reason: string, level: 'debug' | 'warn' = 'warn'): void {
    if (conn.state === 'closed') return;
    this.log[level]({ peer: conn.peer, remote: conn.remote, code, reason }, 'closing peer connection');
    this.markClosed(conn);
    if (conn.ws.readyState === WebSocket.CONNECTING) return conn.ws.terminate();
    try {
      conn.ws.close(code, utf8Prefix(reason, MAX_CLOSE_REASON_BYTES));
    } catch (err) {
      // ws throws on a reason or code it cannot send; the peer must not be able to cause that.
      this.log.error({ peer: conn.peer, remote: conn.remote, err }, 'could not close peer connection cleanly');
      conn.ws.terminate();
    }
  }

  private onClosed(conn: Conn, code: number, reason: string): void {
    this.conns.delete(conn);
    if (conn.state !== 'closed') {
      this.log.debug({ peer: conn.peer, remote: conn.remote, code, reason }, 'peer connection closed');
      this.markClosed(conn);
    }
  }

  /** Bookkeeping for a connection that is gone (or going). Idempotent via state. */
  private markClosed(conn: Conn): void {
    const wasOpen = conn.state === 'open';
    conn.state = 'closed';
    conn.timer?.cancel();
    const peer = conn.peer === undefined ? undefined : this.peers.get(conn.peer);
    if (!peer) return;
    if (peer.dialing === conn) {
      // A failed dial: back off (capped exponential, equal jitter) and fail queued calls fast.
      peer.dialing = undefined;
      peer.failures++;
      const capMs = Math.min(this.backoff.maxMs, this.backoff.minMs * 2 ** Math.min(peer.failures - 1, 30));
      peer.retryAtMs = this.clock.now() + capMs / 2 + this.random.next() * (capMs / 2);
      this.failOutbox(peer, `cannot connect to ${peer.id}`);
      return;
    }
    if (wasOpen && peer.conn === conn) {
      // Lost the live connection: requests sent on it will never be answered.
      peer.conn = undefined;
      for (const [id, p] of peer.pending) {
        if (p.conn !== conn) continue;
        this.settle(peer, id, p);
        p.reject(new PeerError('UNREACHABLE', peer.id, `connection to ${peer.id} lost`));
      }
    }
    // A retired duplicate: its calls may still be answered on the kept connection.
  }

  private onData(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.state === 'closed') return;
    if (!isBinary || !Buffer.isBuffer(data)) {
      return this.close(conn, CloseCode.BAD_FRAME, 'text frames are not accepted');
    }
    let frame: Frame;
    try {
      this.stats.framesIn++;
      this.stats.bytesIn += data.length;
      frame = decodeFrame(data, this.maxFrameBytes);
    } catch (err) {
      const reason = err instanceof FrameError ? `bad frame (${err.reason}): ${err.message}` : 'bad frame';
      return this.close(conn, CloseCode.BAD_FRAME, reason);
    }
    if (conn.state === 'handshake') return this.onHandshake(conn, frame);
    if (isControlMsgType(frame.body.t) && frame.kind !== FrameKind.ERROR) {
      return this.close(conn, CloseCode.PROTOCOL, `unexpected ${msgTypeName(frame.body.t)} after handshake`);
    }
    const peerId = conn.peer as NodeId;
    if (this.linkFilter?.(peerId) === 'drop') return;
    const peer = this.peer(peerId);
    switch (frame.kind) {
      case FrameKind.REQUEST:
        return this.onRequestFrame(conn, peer, frame);
      case FrameKind.RESPONSE:
      case FrameKind.ERROR: {
        const p = peer.pending.get(frame.id);
        if (!p) return; // answered after its timeout
        this.settle(peer, frame.id, p);
        if (frame.kind === FrameKind.RESPONSE) p.resolve(frame.body);
        else p.reject(new PeerError('REMOTE', peerId, String(frame.body['message'])));
        return;
      }
      case FrameKind.ONEWAY:
        try {
          this.messageHandler?.(peerId, frame.body);
        } catch (err) {
          this.log.error({ peer: peerId, err }, 'one-way handler threw');
        }
        return;
    }
  }

  private onRequestFrame(conn: Conn, peer: Peer, frame: Frame): void {
    const handler = this.requestHandler;
    if (!handler) return this.reply(conn, peer, frame.id, FrameKind.ERROR, errorBody(`${this.self} has no request handler`));
    if (conn.inflight >= this.maxInflightPerPeer) {
      return this.reply(conn, peer, frame.id, FrameKind.ERROR, errorBody(`${this.self} busy: ${conn.inflight} requests in flight`));
    }
    conn.inflight++;
    let result: Promise<Message>;
    try {
      result = Promise.resolve(handler(peer.id, frame.body));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (res) => {
        conn.inflight--;
        this.reply(conn, peer, frame.id, FrameKind.RESPONSE, res);
      },
      (err: unknown) => {
        conn.inflight--;
        this.reply(conn, peer, frame.id, FrameKind.ERROR, errorBody(err instanceof Error ? err.message : String(err)));
      },
    );
  }

  private reply(conn: Conn, peer: Peer, id: number, kind: FrameKind, body: Message): void {
    // Prefer the connection the request came on; after a duplicate was retired, the
    // caller still matches the response by id on the kept one.
    const out = conn.state === 'open' ? conn : peer.conn;
    if (!out || this.linkFilter?.(peer.id) === 'drop') return;
    let bytes: Buffer;
    try {
      bytes = encodeFrame({ kind, id, body }, this.maxFrameBytes);
    } catch (err) {
      bytes = encodeFrame({ kind: FrameKind.ERROR, id, body: errorBody(`bad response: ${(err as Error).message}`) }, this.maxFrameBytes);
    }
    this.wsSend(out, bytes);
  }

  // ----- handshake -----

  private onHandshake(conn: Conn, frame: Frame): void {
    const body = frame.body;
    const expect = (t: number): boolean => frame.kind === FrameKind.ONEWAY && body.t === t;
    if (!conn.outbound) {
      // Accepting side: the only acceptable frame is CHALLENGE.
      if (!expect(MsgType.CHALLENGE)) {
        return this.close(conn, CloseCode.PROTOCOL, `${msgTypeName(body.t)} before handshake`);
      }
      const client = body['client'];
      const nonce = asBytes(body['nonce'], NONCE_BYTES);
      const proof = asBytes(body['proof'], 32);
      if (typeof client !== 'string' || !NODE_ID_RE.test(client) || client === this.self || !nonce || !proof) {
        return this.close(conn, CloseCode.PROTOCOL, 'malformed challenge');
      }
      conn.peer = client;
      const want = this.mac('c', conn.nonce, nonce, client, this.self);
      if (!timingSafeEqual(want, proof)) {
        conn.peer = undefined; // unauthenticated: do not touch that peer's state
        return this.close(conn, CloseCode.AUTH_FAILED, `bad proof from ${client}`);
      }
      this.sendControl(conn, { t: MsgType.PROOF, proof: this.mac('s', nonce, conn.nonce, this.self, client) });
      return this.established(conn);
    }
    // Dialling side: HELLO, then PROOF.
    if (!conn.theirNonce) {
      if (!expect(MsgType.HELLO)) return this.close(conn, CloseCode.PROTOCOL, `${msgTypeName(body.t)} before hello`);
      const nonce = asBytes(body['nonce'], NONCE_BYTES);
      if (!nonce) return this.close(conn, CloseCode.PROTOCOL, 'malformed hello');
      const server = body['server'];
      if (typeof server !== 'string' || server !== conn.peer) {
        return this.close(conn, CloseCode.AUTH_FAILED, `dialled ${conn.peer} but reached ${String(body['server'])}`);
      }
      conn.theirNonce = nonce;
      const proof = this.mac('c', nonce, conn.nonce, this.self, server);
      return this.sendControl(conn, { t: MsgType.CHALLENGE, client: this.self, nonce: conn.nonce, proof });
    }
    if (!expect(MsgType.PROOF)) return this.close(conn, CloseCode.PROTOCOL, `${msgTypeName(body.t)} before proof`);
    const proof = asBytes(body['proof'], 32);
    const want = this.mac('s', conn.nonce, conn.theirNonce, conn.peer as NodeId, this.self);
    if (!proof || !timingSafeEqual(want, proof)) {
      return this.close(conn, CloseCode.AUTH_FAILED, `bad proof from ${conn.peer}`);
    }
    this.established(conn);
  }

  private mac(label: 'c' | 's', n1: Buffer, n2: Buffer, id1: NodeId, id2: NodeId): Buffer {
    // Ids cannot contain '|' (NODE_ID_RE) and nonces have fixed length: no ambiguity.
    return createHmac('sha256', this.secret)
      .update(`shoal-v1|${label}|`)
      .update(n1)
      .update(n2)
      .update(`|${id1}|${id2}`)
      .digest();
  }

  private sendControl(conn: Conn, body: Message): void {
    this.wsSend(conn, encodeFrame({ kind: FrameKind.ONEWAY, id: 0, body }, this.maxFrameBytes));
  }

  /** The handshake succeeded: make `conn` the peer's connection, or retire a duplicate. */
  private established(conn: Conn): void {
    conn.timer?.cancel();
    conn.timer = undefined;
    conn.state = 'open';
    const peer = this.peer(conn.peer as NodeId);
    if (peer.dialing === conn) {
      peer.dialing = undefined;
      peer.failures = 0;
      peer.retryAtMs = 0;
    }
    this.log.debug({ peer: peer.id, outbound: conn.outbound, remote: conn.remote }, 'peer connected');
    const current = peer.conn;
    if (current && current.state === 'open') {
      // Both sides dialled at once. Both keep the connection dialled by the smaller id, so
      // they agree without talking; between two from the same dialler, the newer wins.
      const smaller = this.self < peer.id ? this.self : peer.id;
      const dialler = (c: Conn): NodeId => (c.outbound ? this.self : peer.id);
      const keepNew = dialler(conn) === smaller || dialler(current) !== smaller;
      const [keep, retire] = keepNew ? [conn, current] : [current, conn];
      peer.conn = keep;
      // Its pending calls stay: the other side answers them on `keep` (matched by id).
      this.log.debug({ peer: peer.id, remote: retire.remote }, 'closing duplicate connection');
      retire.state = 'retired';
      retire.ws.close(CloseCode.DUPLICATE, 'duplicate connection');
    } else {
      peer.conn = conn;
    }
    this.flush(peer);
  }

  private flush(peer: Peer): void {
    const conn = peer.conn;
    if (!conn) return;
    const outbox = peer.outbox;
    peer.outbox = [];
    peer.outboxOneWay = 0;
    for (const f of outbox) {
      const p = peer.pending.get(f.id);
      if (f.id !== 0 && !p) continue; // timed out while queued
      this.wsSend(conn, f.bytes);
      if (p) p.conn = conn;
    }
  }
}

function asBytes(v: unknown, len: number): Buffer | undefined {
  return v instanceof Uint8Array && v.length === len ? Buffer.from(v) : undefined;
}

/** ws's generateMask for the peer link (see ensureDial). */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** A module function, not a closure per call (each would cost tsx's keepNames a __name). */
function failCall(code: PeerError['code'], peer: NodeId, why: string): Promise<Message> {
  return Promise.reject(new PeerError(code, peer, why));
}
