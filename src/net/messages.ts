// The one table of wire message types (as memberlist keeps its message types in one enum,
// net.go). Numbers are grouped by range and each range is owned by one layer; a layer adds
// names only inside its own range. A number is never reused for a different meaning once
// shipped: decoders reject unknown numbers, so a reused number would be misread silently.

export const MsgType = {
  // 1–9 transport control (net/ws-transport.ts). Never delivered to handlers.
  /** Server → client: a fresh random nonce the client must prove the secret over. */
  HELLO: 1,
  /** Client → server: client id, client nonce and HMAC over the server nonce. */
  CHALLENGE: 2,
  /** Server → client: HMAC over the client nonce (mutual authentication). */
  PROOF: 3,
  /** Body of an error frame: a request handler threw. */
  ERROR: 4,

  // 10–19 gossip / membership (cluster/).
  /** Digest of the sender's membership view. */
  GOSSIP_SYN: 10,
  /** Entries the receiver has newer, plus the ones it wants. */
  GOSSIP_ACK: 11,
  /** Entries the initiator sends back in answer to the ACK's requests. */
  GOSSIP_ACK2: 12,
  /** A node announces it is leaving on purpose. */
  LEAVE: 13,
  /** Direct liveness probe. */
  PING: 14,

  // 20–39 replication (replication/).
  /** Coordinator reads a key from one replica. */
  REPLICA_GET: 20,
  /** Coordinator writes a version to one replica. */
  REPLICA_PUT: 21,
  /** A non-replica forwards a client request to a coordinator. */
  FORWARD: 22,
  /** Hinted handoff: a stand-in hands writes back to the returning owner. */
  HINT_DELIVER: 23,
  /** CRDT delta / state propagation. */
  CRDT_DELTA: 24,

  // 40–49 anti-entropy (replication/anti-entropy.ts).
  /** Tree roots of every partition both sides replicate (one round trip per cycle). */
  AAE_ROOTS: 40,
  /** One partition's branch hashes; the answer: differing branches' segment hashes. */
  AAE_SEGMENTS: 41,
  /** Key lists (key, hash, expiry) of some segments of one partition. */
  AAE_KEYS: 42,
  /** States of differing keys; the peer merges them and answers with its merged states. */
  AAE_REPAIR: 43,
  /** Does the peer hold exactly this state (hash) of each key? (tombstone reaping) */
  AAE_HOLDS: 44,
  /** Remove each key if its state still has this hash (tombstone reaping). */
  AAE_REAP: 45,

  // 60 tests only.
  /** Echo, used by the transport contract suite. */
  TEST_ECHO: 60,
} as const;

export type MsgTypeName = keyof typeof MsgType;
export type MsgTypeNumber = (typeof MsgType)[MsgTypeName];

const known: ReadonlySet<number> = new Set<number>(Object.values(MsgType));
const names: ReadonlyMap<number, string> = new Map(
  Object.entries(MsgType).map(([name, n]) => [n, name] as const),
);

/** True when `t` is a message type some layer defines. */
export function isKnownMsgType(t: unknown): t is MsgTypeNumber {
  return typeof t === 'number' && known.has(t);
}

/** Transport-control types (1–9) are consumed by the transport and never reach handlers. */
export function isControlMsgType(t: number): boolean {
  return t >= 1 && t <= 9;
}

/** Name for logs and per-type counters; `t<number>` for unknown numbers. */
export function msgTypeName(t: number): string {
  return names.get(t) ?? `t${t}`;
}
