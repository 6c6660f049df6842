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
  /** A gauge with one label, e.g. direction="in"|"out", all values read at scrape time. */
  labeledGauge(name: string, help: string, label: string, read: () => Record<string, number>): void;
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
  // Resolving a label set costs a hash per call; there are few distinct (route, method,
  // status) triples, so their children are looked up once and kept.
  const requestChildren = new Map<string, ReturnType<typeof requests.labels>>();
  return {
    registry,
    observeRequest(route, method, status, elapsedMs) {
      const id = `${route} ${method} ${status}`;
      let child = requestChildren.get(id);
      if (child === undefined) {
        child = requests.labels({ route, method, status: String(status) });
        if (requestChildren.size < 1000) requestChildren.set(id, child);
      }
      child.observe(elapsedMs);
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
    labeledGauge(name, help, label, read) {
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers: [registry],
        collect() {
          for (const [value, n] of Object.entries(read())) this.set({ [label]: value }, n);
        },
      });
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
