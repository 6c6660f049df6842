#!/usr/bin/env -S node --no-memory-reducer --min-semi-space-size=16
// Runs the TypeScript CLI through tsx, so `npm install` is the only set-up step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
