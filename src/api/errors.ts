// One registry of client-facing errors (as fastify's lib/errors.js): every error a client
// can see has a stable code, a status and a message saying what was wrong.

export const ErrorCodes = {
  BAD_REQUEST: 400,
  INVALID_KEY: 400,
  INVALID_CONTEXT: 400,
  INVALID_QUORUM: 400,
  WRONG_BUCKET_TYPE: 400,
  BAD_OPERATION: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PRECONDITION_FAILED: 412,
  KEY_TOO_LARGE: 413,
  VALUE_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_SIBLINGS: 409,
  RATE_LIMITED: 429,
  QUORUM_UNAVAILABLE: 503,
  TIMEOUT: 503,
  STORAGE_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra fields for the JSON body (e.g. needed/answered for quorum errors). */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = ErrorCodes[code];
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.details };
  }
}
