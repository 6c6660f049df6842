// HTTP security: bearer tokens (one for data, optionally another for operator routes), a
// per-client request rate limit, and the server itself (TLS, header size bound).
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import type { ShoalConfig } from '../config.ts';
import { ApiError } from './errors.ts';

/** Routes for operators rather than applications: they get the admin token when one is set. */
const OPERATOR_PREFIXES = ['/admin', '/cluster', '/metrics'];

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function registerSecurity(app: FastifyInstance, config: ShoalConfig): Promise<void> {
  const { httpToken, adminToken, rateLimit: limit } = config.security;
  if (httpToken !== null || adminToken !== null) {
    app.addHook('onRequest', async (req) => {
      const path = req.url.split('?', 1)[0] ?? '';
      if (path === '/health') return;
      const operator = OPERATOR_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
      const expected = operator ? (adminToken ?? httpToken) : httpToken;
      if (expected === null) return;
      const header = req.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!sameToken(token, expected)) {
        throw new ApiError('UNAUTHORIZED', `this route needs "Authorization: Bearer <${operator && adminToken ? 'admin' : 'http'} token>"`);
      }
    });
  }
  if (limit !== null) {
    await app.register(rateLimit, {
      max: limit.max,
      timeWindow: limit.windowMs,
      allowList: (req) => req.url === '/health',
      errorResponseBuilder: (_req, ctx) =>
        new ApiError('RATE_LIMITED', `more than ${ctx.max} requests in ${ctx.after}; slow down`),
    });
  }
}

/** The node's HTTP(S) server: TLS when configured, and a bound on request header bytes. */
export function serverFactory(config: ShoalConfig): FastifyServerFactory {
  const { httpTls, maxHeaderBytes } = config.security;
  return (handler) => {
    if (httpTls === null) return createHttpServer({ maxHeaderSize: maxHeaderBytes }, handler) as Server;
    return createHttpsServer(
      { cert: readFileSync(httpTls.certFile), key: readFileSync(httpTls.keyFile), maxHeaderSize: maxHeaderBytes },
      handler,
    ) as unknown as Server;
  };
}

export const EXAMPLE_SECRET = 'shoal-example-secret-change-me';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * A node reachable from other machines must not run with the secret everyone can read in
 * the shipped config: anyone who can reach the peer port could join and write.
 */
export function checkSecretForHost(config: ShoalConfig, host: string): void {
  if (config.secret === EXAMPLE_SECRET && !isLoopback(host)) {
    throw new Error(
      `refusing to listen on ${host} with the example secret from the shipped cluster.config.json: ` +
        'set "secret" to a long random string shared by your nodes (e.g. `openssl rand -hex 32`)',
    );
  }
}
