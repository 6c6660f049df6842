// The operation history of a chaos run: every client operation with its outcome and every
// fault, appended as JSON lines so a failed run can be read (and re-checked) afterwards.
import { createWriteStream, type WriteStream } from 'node:fs';

/** ok: acknowledged; fail: a definite error answer (may still have been applied in part);
 *  unknown: no answer (timeout, connection reset, paused node). */
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface ReadOp {
  readonly kind: 'read';
  readonly id: number;
  readonly client: string;
  readonly node: string;
  readonly bucket: string;
  readonly key: string;
  readonly r: string;
  readonly start: number;
  end: number;
  outcome: Outcome;
  status?: number;
  /** Visible sibling values (empty when not found). */
  values?: string[];
  error?: string;
}

export interface WriteOp {
  readonly kind: 'write' | 'delete';
  readonly id: number;
  readonly client: string;
  readonly node: string;
  readonly bucket: string;
  readonly key: string;
  readonly w: string;
  readonly start: number;
  end: number;
  outcome: Outcome;
  status?: number;
  /** The unique value written (writes only). */
  readonly value?: string;
  /** Values visible to the read whose context this write sent (empty: blind write). */
  readonly saw: readonly string[];
  readonly withContext: boolean;
  error?: string;
}

export interface FaultEvent {
  readonly kind: 'fault';
  readonly at: number;
  readonly fault: string;
  readonly nodes: readonly string[];
  readonly phase: 'begin' | 'end';
  readonly detail?: string;
}

export type KvOp = ReadOp | WriteOp;
export type HistoryEntry = KvOp | FaultEvent | { readonly kind: string; readonly [k: string]: unknown };

export class History {
  private readonly out: WriteStream;
  readonly ops: KvOp[] = [];
  readonly faults: FaultEvent[] = [];
  private nextId = 1;

  constructor(readonly path: string) {
    this.out = createWriteStream(path, { flags: 'a' });
  }

  id(): number {
    return this.nextId++;
  }

  /** Records a finished operation (ops are logged when they complete, with start/end times). */
  op(op: KvOp): void {
    this.ops.push(op);
    this.out.write(JSON.stringify(op) + '\n');
  }

  fault(f: FaultEvent): void {
    this.faults.push(f);
    this.out.write(JSON.stringify(f) + '\n');
  }

  note(entry: { readonly kind: string; readonly [k: string]: unknown }): void {
    this.out.write(JSON.stringify(entry) + '\n');
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.out.end(() => r()));
  }
}
