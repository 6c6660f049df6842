// The logging port. Shaped like pino's (fastify's logger is pino), so `app.log` or a
// pino child can be handed in directly: `log.info({ peer }, 'connected')` or
// `log.info('started')`. Loggers are handed in, never imported as a global (STYLE §4).

export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};

/** Discards everything (tests, library defaults). */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

export type LogLevel = keyof Logger;
export interface LogRecord {
  readonly level: LogLevel;
  readonly obj: object;
  readonly msg: string;
}

/**
 * Keeps records in memory so tests can assert that something was logged (e.g. the close
 * reason for a bad frame). Bounded: only the newest `maxRecords` are kept.
 */
export function memoryLogger(maxRecords = 1000): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at =
    (level: LogLevel): LogFn =>
    (objOrMsg: object | string, msg?: string): void => {
      const rec: LogRecord =
        typeof objOrMsg === 'string'
          ? { level, obj: {}, msg: objOrMsg }
          : { level, obj: objOrMsg, msg: msg ?? '' };
      records.push(rec);
      if (records.length > maxRecords) records.shift();
    };
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A minimal JSON-lines logger to stderr for the CLI when no pino instance is handy. */
export function consoleLogger(minLevel: LogLevel = 'info', bindings: object = {}): Logger {
  const order: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };
  const at =
    (level: LogLevel): LogFn =>
    (objOrMsg: object | string, msg?: string): void => {
      if (order[level] < order[minLevel]) return;
      const obj = typeof objOrMsg === 'string' ? {} : objOrMsg;
      const text = typeof objOrMsg === 'string' ? objOrMsg : msg;
      process.stderr.write(
        JSON.stringify({ level, time: Date.now(), ...bindings, ...obj, msg: text }) + '\n',
      );
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
