import { describe, expect, it } from 'vitest';
import { NODE_FLAGS, missingNodeFlags } from '../../src/runtime/node-flags.ts';

describe('missingNodeFlags', () => {
  it('names every flag when none was given', () => {
    expect(missingNodeFlags([])).toEqual([...NODE_FLAGS]);
    expect(missingNodeFlags(['--import', 'tsx'])).toEqual([...NODE_FLAGS]);
  });

  it('is empty when all were given, in any order', () => {
    expect(missingNodeFlags([...NODE_FLAGS].reverse())).toEqual([]);
  });

  it('counts a flag given with another value or spelled with underscores as given', () => {
    expect(missingNodeFlags(['--min_semi_space_size=32', '--no-memory-reducer'])).toEqual([]);
    expect(missingNodeFlags(['--min-semi-space-size=64'])).toEqual(['--no-memory-reducer']);
  });
});
