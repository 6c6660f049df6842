// Durability under kill -9: every write the engine acknowledged is there after reopening,
// with the WAL fsync off (the default: survives a process crash) and on.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openRocksEngine } from '../../src/storage/rocksdb.ts';
import { writerKey, writerValue } from '../fixtures/storage-writer-data.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const root = mkdtempSync(join(tmpdir(), 'shoal-kill9-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGKILL');
    }
  }
});

interface Writer {
  child: ChildProcess;
  /** Highest i for which "acked i" has been read so far (-1: none). */
  lastAck(): number;
  /** Bounded wait until `pred` holds; rejects on timeout, child exit or a fixture error. */
  waitFor(pred: () => boolean, what: string, timeoutMs: number): Promise<void>;
  exited: Promise<void>;
}

function startWriter(dir: string, mode: 'sync' | 'nosync', max: number): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/storage-writer.ts', dir, mode, String(max)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let acked = -1;
  let error: string | undefined;
  let stderr = '';
  let buffered = '';
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^acked (\d+)$/.exec(line);
      if (m) {
        const i = Number(m[1]);
        // Acks arrive in order; a gap would mean the fixture is broken, not the engine.
        if (i !== acked + 1) error = `ack ${i} after ${acked}`;
        acked = i;
      } else if (line.startsWith('error ')) error = line;
    }
    for (const w of waiters) w();
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000); // bounded: only the tail matters
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  child.once('exit', () => {
    for (const w of waiters) w();
  });
  return {
    child,
    lastAck: () => acked,
    exited,
    waitFor(pred, what, timeoutMs) {
      return new Promise<void>((res, rej) => {
        const check = (): void => {
          if (error !== undefined) finish(new Error(`writer failed: ${error}\n${stderr}`));
          else if (pred()) finish();
          else if (child.exitCode !== null || child.signalCode !== null) {
            finish(new Error(`writer exited before ${what}\n${stderr}`));
          }
        };
        const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}\n${stderr}`)), timeoutMs);
        const finish = (err?: Error): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) rej(err);
          else res();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

describe.each(['nosync', 'sync'] as const)('RocksDB engine under kill -9 (%s)', (mode) => {
  it('keeps every acknowledged write', async () => {
    const dir = join(root, `kill-${mode}`);
    const target = 300;
    const w = startWriter(dir, mode, 100_000);
    await w.waitFor(() => w.lastAck() >= target, `${target} acks`, 20_000);
    const pid = w.child.pid;
    if (pid === undefined) throw new Error('no pid');
    process.kill(pid, 'SIGKILL');
    await w.exited;
    expect(w.child.signalCode).toBe('SIGKILL');
    // Acks read after the kill was sent are still acks the child made before dying.
    const last = w.lastAck();
    expect(last).toBeGreaterThanOrEqual(target);

    const engine = await openRocksEngine(dir, { sync: false });
    try {
      const enc = new TextEncoder();
      const dec = new TextDecoder();
      const missing: number[] = [];
      for (let i = 0; i <= last; i++) {
        const v = await engine.get(enc.encode(writerKey(i)));
        if (v === undefined || dec.decode(v) !== writerValue(i)) missing.push(i);
        if (i % 2 === 1) {
          const b = await engine.get(enc.encode(`${writerKey(i)}.b`));
          if (b === undefined || dec.decode(b) !== writerValue(i)) missing.push(i);
        }
      }
      expect(missing).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});

describe('RocksDB engine lock', () => {
  it('opening a directory another live process holds fails with the path and the reason', async () => {
    const dir = join(root, 'locked');
    const w = startWriter(dir, 'nosync', 1);
    await w.waitFor(() => w.lastAck() >= 0, 'the writer to open the database', 20_000);
    const err = await openRocksEngine(dir, { sync: false }).then(
      async (e) => {
        await e.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toMatch(/locked by another process/);
    // Once the holder is gone, the directory opens again.
    if (w.child.pid !== undefined) process.kill(w.child.pid, 'SIGKILL');
    await w.exited;
    const e = await openRocksEngine(dir, { sync: false });
    await e.close();
  });
});
