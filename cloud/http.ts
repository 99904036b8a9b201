// The aggregator's small HTTP face: /healthz for load balancers and /metrics for Prometheus (prom-client).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../common/log.js';
import type { RejectReason } from '../protocol/index.js';

/** What the metrics read at scrape time; reading counters then keeps the message hot path free of metric calls. */
export interface MetricsSource {
  received: number;
  accepted: number;
  duplicates: number;
  rejected: Record<RejectReason, number>;
  deadLettered: number;
  gaps: number;
  gapsReported: number;
  pointsWritten: number;
  writeErrors: number;
  rejectedPoints: number;
  spoolBytes: number;
  spoolSegments: number;
  influxUp: boolean;
  mqttConnected: boolean;
  nodesOnline: number;
  nodesKnown: number;
  peerSeqs: number;
}

/** One Registry per aggregator (not prom-client's global one), so several can live in one process and in tests. */
export class AggregatorMetrics {
  readonly registry = new Registry();
  readonly batchWrite: Histogram;

  constructor(read: () => MetricsSource) {
    const reg = [this.registry];
    const counter = (name: string, help: string, pick: (s: MetricsSource) => number) =>
      new Counter({
        name,
        help,
        registers: reg,
        collect() {
          this.reset();
          this.inc(pick(read()));
        },
      });
    const gauge = (name: string, help: string, pick: (s: MetricsSource) => number) =>
      new Gauge({
        name,
        help,
        registers: reg,
        collect() {
          this.set(pick(read()));
        },
      });
    counter('customs_agg_messages_received_total', 'MQTT messages received on the data and status subscriptions', (s) => s.received);
    counter('customs_agg_messages_accepted_total', 'messages valid, new and spooled', (s) => s.accepted);
    counter('customs_agg_duplicates_total', 'messages dropped as duplicates of (node, boot, seq)', (s) => s.duplicates);
    new Counter({
      name: 'customs_agg_rejected_total',
      help: 'messages rejected and dead-lettered, by reason',
      labelNames: ['reason'],
      registers: reg,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(read().rejected)) this.inc({ reason }, n);
      },
    });
    counter('customs_agg_dead_letters_total', 'messages published to the dead-letter topic', (s) => s.deadLettered);
    gauge('customs_agg_gap_missing', 'seqs currently missing across all nodes and boots (a late arrival lowers it)', (s) => s.gaps);
    counter('customs_agg_gaps_reported_total', 'missing seq ranges reported after the grace period', (s) => s.gapsReported);
    counter('customs_agg_points_written_total', 'points the sink (InfluxDB or line file) accepted', (s) => s.pointsWritten);
    counter('customs_agg_write_errors_total', 'failed write requests (outages, retried after a backoff; refusals, split to find the refused lines)', (s) => s.writeErrors);
    counter(
      'customs_agg_points_refused_total',
      'points InfluxDB refused (type conflict, max-values-per-tag, unparsable), moved to the quarantine file; the good lines of the same batch are not counted',
      (s) => s.rejectedPoints,
    );
    gauge('customs_agg_spool_bytes', 'bytes accepted and not yet in the sink', (s) => s.spoolBytes);
    gauge('customs_agg_spool_segments', 'spool segment files on disk', (s) => s.spoolSegments);
    gauge('customs_agg_influx_up', '1 when the last write to the sink succeeded', (s) => (s.influxUp ? 1 : 0));
    gauge('customs_agg_mqtt_connected', '1 while connected to the broker', (s) => (s.mqttConnected ? 1 : 0));
    gauge('customs_agg_nodes_online', 'nodes whose last status said online', (s) => s.nodesOnline);
    gauge('customs_agg_nodes_known', 'nodes seen since start', (s) => s.nodesKnown);
    counter('customs_agg_peer_seqs_total', 'seqs other aggregators of the group announced (fills their share of the gaps)', (s) => s.peerSeqs);
    this.batchWrite = new Histogram({
      name: 'customs_agg_batch_write_seconds',
      help: 'time of one batch write to the sink',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: reg,
    });
  }
}

export interface HealthReport {
  status: number;
  body: Record<string, unknown>;
}

export interface StatusServerOptions {
  host: string;
  port: number;
  health: () => HealthReport;
  metrics: AggregatorMetrics;
  log: Logger;
}

export class StatusServer {
  private server: Server | undefined;
  private boundPort: number | undefined;

  constructor(private readonly opts: StatusServerOptions) {}

  get port(): number | undefined {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.opts.log.error({ err: e }, 'http handler failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    // Keep-alive sockets from scrapers must not hold stop() up.
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const h = this.opts.health();
      res.writeHead(h.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(h.body));
      return;
    }
    if (path === '/metrics') {
      const text = await this.opts.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.opts.metrics.registry.contentType });
      res.end(text);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /healthz or /metrics\n');
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}
