// Shared helpers for the storage tests.

import type { VersionedObject } from '../../src/core/types.ts';
import type { BatchOp, Engine, IterateOptions } from '../../src/storage/engine.ts';

/** An object with `n` siblings from node n1, dots 1..n, clock n1 = n. */
export function objWith(n: number, tag = 'v'): VersionedObject {
  return {
    clock: n === 0 ? {} : { n1: n },
    siblings: Array.from({ length: n }, (_, i) => ({
      value: new TextEncoder().encode(`${tag}${i + 1}`),
      contentType: 'text/plain',
      tombstone: false,
      expiresAt: null,
      ts: { wall: 1_700_000_000_000 + i, logical: 0 },
      dot: ['n1', i + 1] as const,
    })),
  };
}

/** Appends one sibling with the next dot: a stand-in for a coordinator's write. */
export function appendSibling(cur: VersionedObject | undefined, tag = 'v'): VersionedObject {
  const n = cur?.clock['n1'] ?? 0;
  const next = objWith(n + 1, tag);
  const last = next.siblings[n];
  if (last === undefined) throw new Error('unreachable');
  return { clock: next.clock, siblings: [...(cur?.siblings ?? []), last] };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Wraps an engine so every read and write yields to the event loop a few times first,
 * widening the window in which concurrent operations interleave.
 */
export function slowEngine(
  inner: Engine,
  ticks = 3,
): Engine & { calls: { gets: number; puts: number }; holdNextGet(): () => void } {
  const calls = { gets: 0, puts: 0 };
  // A gate for the next get: it reads the engine now but delivers only when released,
  // which is exactly a read that was overtaken by a later write.
  let nextGate: Promise<void> | undefined;
  const wait = async (): Promise<void> => {
    for (let i = 0; i < ticks; i++) await tick();
  };
  return {
    calls,
    holdNextGet() {
      let release = (): void => {};
      nextGate = new Promise((resolve) => (release = resolve));
      return release;
    },
    async get(key: Uint8Array) {
      calls.gets++;
      const gate = nextGate;
      nextGate = undefined;
      await wait();
      const value = await inner.get(key);
      if (gate !== undefined) await gate;
      return value;
    },
    async put(key: Uint8Array, value: Uint8Array) {
      calls.puts++;
      await wait();
      return inner.put(key, value);
    },
    async delete(key: Uint8Array) {
      await wait();
      return inner.delete(key);
    },
    async batch(ops: readonly BatchOp[]) {
      await wait();
      return inner.batch(ops);
    },
    iterate(options: IterateOptions) {
      return inner.iterate(options);
    },
    close() {
      return inner.close();
    },
  };
}

/**
 * Wraps an engine so puts wait until released, as writes waiting for a group commit do; they
 * reach the inner engine and settle in call order (the Engine contract). `failNext` makes the
 * next puts fail when released, without writing.
 */
export function heldWritesEngine(inner: Engine): Engine & {
  /** Puts called and not yet released. */
  readonly held: number;
  /** Settles every held put, in call order. */
  releaseAll(): Promise<void>;
  failNext(count: number): void;
} {
  const queue: { key: Uint8Array; value: Uint8Array; fail: boolean; resolve(): void; reject(e: Error): void }[] = [];
  let failing = 0;
  return {
    get held() {
      return queue.length;
    },
    async releaseAll() {
      while (queue.length > 0) {
        const w = queue.shift()!;
        if (w.fail) w.reject(new Error('injected write failure'));
        else {
          await inner.put(w.key, w.value);
          w.resolve();
        }
      }
      await tick();
    },
    failNext(count: number) {
      failing = count;
    },
    get: (key) => inner.get(key),
    put(key: Uint8Array, value: Uint8Array) {
      const fail = failing > 0;
      if (fail) failing--;
      return new Promise<void>((resolve, reject) => queue.push({ key, value, fail, resolve, reject }));
    },
    delete: (key) => inner.delete(key),
    batch: (ops) => inner.batch(ops),
    iterate: (options) => inner.iterate(options),
    close: () => inner.close(),
  };
}
