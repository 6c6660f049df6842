// The peer transport port. Implemented by net/ws-transport.ts (WebSockets, msgpackr frames,
// HMAC handshake) and net/sim.ts (one process, seeded faults). Both pass
// test/net/transport-contract.ts.
//
// What callers may assume (as memberlist's transport.go documents):
// - call(): at most one response per request; rejects with PeerError on timeout, when
//   the peer is unknown/unreachable, or when the send queue to that peer is full
//   (fail fast, never buffer without bound).
// - send(): best effort, may be dropped, duplicated or reordered; never throws.
// - handlers must not block: long work is done asynchronously by the caller.
import type { NodeId } from '../core/types.ts';

/** A message body: plain msgpackr-encodable data with a numeric type (see net/messages.ts). */
export interface Message {
  readonly t: number;
  readonly [field: string]: unknown;
}

export type PeerErrorCode = 'TIMEOUT' | 'UNREACHABLE' | 'BACKPRESSURE' | 'CLOSED' | 'REMOTE';

export class PeerError extends Error {
  constructor(
    readonly code: PeerErrorCode,
    readonly peer: NodeId,
    message: string,
  ) {
    super(message);
    this.name = 'PeerError';
  }
}

export type RequestHandler = (from: NodeId, msg: Message) => Promise<Message>;
export type OneWayHandler = (from: NodeId, msg: Message) => void;

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

export interface Transport {
  readonly self: NodeId;
  /** Where a peer can be reached; membership updates this as it learns addresses. */
  setPeerAddress(peer: NodeId, address: PeerAddress): void;
  /** Request/response with a per-call timeout. */
  call(peer: NodeId, msg: Message, timeoutMs: number): Promise<Message>;
  /** One-way, best effort (gossip). */
  send(peer: NodeId, msg: Message): void;
  onRequest(handler: RequestHandler): void;
  onMessage(handler: OneWayHandler): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
