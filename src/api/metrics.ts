// Prometheus metrics (prom-client), one registry per node so several in-process nodes in a
// test never mix their numbers. Lower layers get plain counter callbacks, not prom-client.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  observeRequest(route: string, method: string, status: number, elapsedMs: number): void;
  countError(code: string): void;
  countSiblingRead(siblings: number): void;
  /** Replication-level events (read repairs, hints stored/delivered/dropped, …). */
  count(event: string, by?: number): void;
  /** A gauge read at scrape time (hint backlog, members up, …). */
  gauge(name: string, help: string, read: () => number): void;
}

export function createMetrics(nodeId: string, opts: { processMetrics: boolean }): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'shoal_process_' });
  const requests = new Histogram({
    name: 'shoal_http_request_duration_ms',
    help: 'HTTP request latency by route, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'shoal_http_errors_total',
    help: 'Error responses by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  const siblingReads = new Histogram({
    name: 'shoal_read_siblings',
    help: 'Sibling count of reads that found more than one version',
    buckets: [2, 3, 4, 8, 16, 64],
    registers: [registry],
  });
  const events = new Counter({
    name: 'shoal_events_total',
    help: 'Replication events: read repairs, hints stored, delivered and dropped, forwards',
    labelNames: ['event'],
    registers: [registry],
  });
  return {
    registry,
    observeRequest(route, method, status, elapsedMs) {
      requests.observe({ route, method, status: String(status) }, elapsedMs);
    },
    countError(code) {
      errors.inc({ code });
    },
    countSiblingRead(siblings) {
      siblingReads.observe(siblings);
    },
    count(event, by = 1) {
      events.inc({ event }, by);
    },
    gauge(name, help, read) {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    },
  };
}
