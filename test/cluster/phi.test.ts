import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhiDetector, defaultPhiOptions, phi } from '../../src/cluster/phi.ts';

/** A detector fed `count` arrivals `intervalMs` apart; returns it and the last arrival time. */
function fed(intervalMs: number, count: number, opts = defaultPhiOptions(500)): { d: PhiDetector; lastMs: number } {
  const d = new PhiDetector(opts);
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += intervalMs;
    d.heartbeat(t);
  }
  return { d, lastMs: t };
}

describe('phi accrual', () => {
  it('phi is -log10(0.5) at the mean and grows monotonically with elapsed time', () => {
    expect(phi(1000, 1000, 200)).toBeCloseTo(Math.log10(2), 2);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 100, max: 3_000 }),
        fc.integer({ min: 10, max: 1_000 }),
        (t, dt, mean, std) => {
          const a = phi(t, mean, std);
          const b = phi(t + dt, mean, std);
          expect(b).toBeGreaterThanOrEqual(a);
          expect(Number.isFinite(b)).toBe(true);
          expect(a).toBeGreaterThanOrEqual(0);
        },
      ),
    );
  });

  it('is 0 before any heartbeat', () => {
    expect(new PhiDetector(defaultPhiOptions(500)).phi(1_000_000)).toBe(0);
  });

  it('at a 500 ms interval crosses 8 between 2 s and 4 s of silence, and stays low on time', () => {
    const { d, lastMs } = fed(500, 50);
    expect(d.phi(lastMs + 500)).toBeLessThan(1);
    expect(d.phi(lastMs + 1500)).toBeLessThan(3); // one missed round plus jitter: not even suspect
    expect(d.phi(lastMs + 2000)).toBeLessThan(8);
    expect(d.phi(lastMs + 4000)).toBeGreaterThan(8);
  });

  it('floors the std deviation so perfectly regular arrivals do not make it brittle', () => {
    const opts = defaultPhiOptions(500);
    const { d } = fed(500, 20, opts);
    expect(d.stdDev()).toBe(opts.minStdDevMs);
    expect(d.mean()).toBe(500);
  });

  it('adapts: slower observed arrivals mean less suspicion after the same silence', () => {
    const fast = fed(300, 50);
    const slow = fed(900, 50);
    expect(slow.d.phi(slow.lastMs + 2500)).toBeLessThan(fast.d.phi(fast.lastMs + 2500));
  });

  it('keeps a bounded window and ignores outage-length gaps', () => {
    const opts = { ...defaultPhiOptions(500), windowSize: 10 };
    const { d, lastMs } = fed(500, 100, opts);
    expect(d.sampleCount).toBe(10);
    d.heartbeat(lastMs + 60_000); // a partition, not the rhythm
    expect(d.sampleCount).toBe(10);
    expect(d.mean()).toBe(500);
    expect(d.phi(lastMs + 60_000 + 500)).toBeLessThan(1);
  });

  it('rebase restarts the wait without recording a sample', () => {
    const { d, lastMs } = fed(500, 20);
    expect(d.phi(lastMs + 10_000)).toBeGreaterThan(8);
    d.rebase(lastMs + 10_000);
    expect(d.phi(lastMs + 10_000)).toBeLessThan(1);
    expect(d.sampleCount).toBe(19);
  });
});
