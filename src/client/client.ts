// A small client library for Shoal's HTTP API. It keeps the causal context for the caller:
// get() returns it, put()/delete() take it, so read-modify-write is one line.
export type Quorum = 'one' | 'quorum' | 'all' | number;

export interface ReadOptions {
  readonly r?: Quorum;
  readonly pr?: Quorum;
  readonly timeoutMs?: number;
}

export interface WriteOptions {
  readonly w?: Quorum;
  readonly pw?: Quorum;
  readonly timeoutMs?: number;
  /** The context from an earlier get(): the write replaces what that read saw. */
  readonly context?: string;
  readonly contentType?: string;
  readonly ttlSeconds?: number;
}

export interface Sibling {
  readonly contentType: string;
  readonly value: Uint8Array;
}

export type GetResult =
  | { readonly found: false; readonly context?: string }
  | { readonly found: true; readonly siblings: readonly Sibling[]; readonly context: string };

export class ClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

export class ShoalClient {
  private readonly base: string;
  constructor(baseUrl: string) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  private url(bucket: string, key: string, params: Record<string, string | number | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${this.base}/buckets/${encodeURIComponent(bucket)}/keys/${encodeURIComponent(key)}${qs ? `?${qs}` : ''}`;
  }

  async get(bucket: string, key: string, opts: ReadOptions = {}): Promise<GetResult> {
    const res = await fetch(this.url(bucket, key, { r: opts.r, pr: opts.pr, timeout: opts.timeoutMs }));
    const context = res.headers.get('x-shoal-context') ?? undefined;
    if (res.status === 404) {
      await res.arrayBuffer();
      return context === undefined ? { found: false } : { found: false, context };
    }
    if (res.status === 200) {
      const value = new Uint8Array(await res.arrayBuffer());
      return { found: true, siblings: [{ contentType: res.headers.get('content-type') ?? '', value }], context: context ?? '' };
    }
    if (res.status === 300) {
      const body = (await res.json()) as { siblings: { contentType: string; encoding: string; value: string }[]; context: string };
      return {
        found: true,
        context: body.context,
        siblings: body.siblings.map((s) => ({
          contentType: s.contentType,
          value: new Uint8Array(Buffer.from(s.value, s.encoding === 'utf8' ? 'utf8' : 'base64')),
        })),
      };
    }
    throw await toError(res);
  }

  async put(bucket: string, key: string, value: Uint8Array | string, opts: WriteOptions = {}): Promise<string | undefined> {
    const headers: Record<string, string> = { 'content-type': opts.contentType ?? (typeof value === 'string' ? 'text/plain' : 'application/octet-stream') };
    if (opts.context) headers['x-shoal-context'] = opts.context;
    const res = await fetch(this.url(bucket, key, { w: opts.w, pw: opts.pw, timeout: opts.timeoutMs, ttl: opts.ttlSeconds }), {
      method: 'PUT',
      headers,
      body: typeof value === "string" ? value : Buffer.from(value),
    });
    if (res.status !== 204) throw await toError(res);
    return res.headers.get('x-shoal-context') ?? undefined;
  }

  async delete(bucket: string, key: string, opts: WriteOptions = {}): Promise<void> {
    const headers: Record<string, string> = {};
    if (opts.context) headers['x-shoal-context'] = opts.context;
    const res = await fetch(this.url(bucket, key, { w: opts.w, pw: opts.pw, timeout: opts.timeoutMs }), { method: 'DELETE', headers });
    if (res.status !== 204) throw await toError(res);
  }

  async json(path: string): Promise<unknown> {
    const res = await fetch(`${this.base}${path}`);
    if (!res.ok) throw await toError(res);
    return res.json();
  }
}

async function toError(res: Response): Promise<ClientError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    return new ClientError(res.status, String(body['error'] ?? res.status), String(body['message'] ?? text), body);
  } catch {
    return new ClientError(res.status, String(res.status), text.slice(0, 500));
  }
}
