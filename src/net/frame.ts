// Wire frames. Every frame is one msgpackr value `[version, kind, id, body]`:
// - version: PROTOCOL_VERSION; a peer speaking another version is refused, not guessed at
//   (riak_dt tags every binary with a version for the same reason).
// - kind: request | response | error | oneway (FrameKind).
// - id: request id, chosen by the side that sent the request; a response/error echoes it.
//   Ids are per direction, so both peers may use the same number at once (see ws-transport).
// - body: the Message `{ t, ... }`; `t` must be a known MsgType.
// Decoding validates all of this and throws FrameError with a reason; callers close the
// connection on it. Decoded frames share nothing with the bytes they came from.
import { Packr } from 'msgpackr';
import type { Message } from './transport.ts';
import { MsgType, isKnownMsgType } from './messages.ts';

export const PROTOCOL_VERSION = 1;

/** 16 MiB: far above any sane message, small enough that one frame cannot exhaust memory. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export const FrameKind = {
  REQUEST: 0,
  RESPONSE: 1,
  /** Response whose body is `{ t: MsgType.ERROR, message }`: the remote handler threw. */
  ERROR: 2,
  ONEWAY: 3,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface Frame {
  readonly kind: FrameKind;
  /** Non-negative safe integer; 0 for one-way frames. */
  readonly id: number;
  readonly body: Message;
}

export type FrameErrorReason = 'decode' | 'shape' | 'version' | 'kind' | 'id' | 'type' | 'oversized';

export class FrameError extends Error {
  constructor(
    readonly reason: FrameErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

// useRecords: false — msgpackr's record extension keeps structure definitions across
// calls; frames must be self-contained so any frame decodes on its own.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function checkBody(body: unknown): Message {
  if (!isPlainObject(body)) throw new FrameError('shape', 'frame body is not a map');
  const t = body['t'];
  if (typeof t !== 'number' || !Number.isInteger(t)) {
    throw new FrameError('shape', 'frame body has no integer t');
  }
  if (!isKnownMsgType(t)) throw new FrameError('type', `unknown message type ${t}`);
  return body as Message;
}

/** Encodes a frame; throws FrameError if the body is malformed or the result exceeds `maxBytes`. */
export function encodeFrame(frame: Frame, maxBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  checkBody(frame.body);
  if (!Number.isSafeInteger(frame.id) || frame.id < 0) {
    throw new FrameError('id', `bad frame id ${frame.id}`);
  }
  const bytes = packr.pack([PROTOCOL_VERSION, frame.kind, frame.id, frame.body]);
  if (bytes.length > maxBytes) {
    throw new FrameError('oversized', `frame of ${bytes.length} bytes exceeds ${maxBytes}`);
  }
  return bytes;
}

/** Decodes and validates one frame; throws FrameError with the reason. */
export function decodeFrame(bytes: Uint8Array, maxBytes = DEFAULT_MAX_FRAME_BYTES): Frame {
  if (bytes.length > maxBytes) {
    throw new FrameError('oversized', `frame of ${bytes.length} bytes exceeds ${maxBytes}`);
  }
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    throw new FrameError('decode', `not msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(value) || value.length !== 4) {
    throw new FrameError('shape', 'frame is not a 4-element array');
  }
  const [version, kind, id, body] = value as unknown[];
  if (version !== PROTOCOL_VERSION) {
    throw new FrameError('version', `protocol version ${String(version)}, expected ${PROTOCOL_VERSION}`);
  }
  if (kind !== FrameKind.REQUEST && kind !== FrameKind.RESPONSE && kind !== FrameKind.ERROR && kind !== FrameKind.ONEWAY) {
    throw new FrameError('kind', `unknown frame kind ${String(kind)}`);
  }
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw new FrameError('id', 'frame id is not a non-negative integer');
  }
  const msg = checkBody(body);
  if (kind === FrameKind.ERROR && (msg.t !== MsgType.ERROR || typeof msg['message'] !== 'string')) {
    throw new FrameError('shape', 'error frame without { t: ERROR, message }');
  }
  return { kind, id, body: msg };
}

/** Longest error text sent back; a handler's error message must not blow the frame limit. */
const MAX_ERROR_MESSAGE_CHARS = 1024;

/** The body of an error frame. */
export function errorBody(message: string): Message {
  return { t: MsgType.ERROR, message: message.slice(0, MAX_ERROR_MESSAGE_CHARS) };
}
