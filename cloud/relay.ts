// Relays vehicle source estimates to the handhelds of the same site as signed, retained `cmd/estimate` commands.
//
// Edge boxes never talk to each other; the aggregator sees every `source` summary and every node's status, so it is
// the one that forwards a vehicle's estimate. Handhelds are learnt from their retained status (role 'handheld') and
// from the config list. The command is retained so a handheld that is offline or starts later gets the latest
// estimate on (re)connect; a handheld first seen after an estimate gets that estimate at once.
import { readFileSync } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { CustomsError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { EstimateCommand } from '../protocol/estimate.js';
import { cmdTopic, ID_PATTERN, signPayload, type AnyMessage, type Kind, type SourceMsg, type StatusMsg } from '../protocol/index.js';

export const RelayConfigSchema = Type.Object(
  {
    keyId: Type.String({ minLength: 1, maxLength: 64, description: 'key id the handhelds know the aggregator public key by' }),
    privateKey: Type.String({ minLength: 1, description: 'PEM file of the aggregator Ed25519 signing key (PKCS#8)' }),
    handhelds: Type.Optional(
      Type.Record(Type.String({ pattern: ID_PATTERN }), Type.Array(Type.String({ pattern: ID_PATTERN }), { maxItems: 256 }), {
        description: 'site -> handheld node ids, besides those learnt from status messages with role "handheld"',
      }),
    ),
  },
  { additionalProperties: false },
);
export type RelayConfig = Static<typeof RelayConfigSchema>;

export type { EstimateCommand };

export class RelayError extends CustomsError {}

export interface RelayStats {
  relayed: number;
  handhelds: number;
  failed: number;
}

export class EstimateRelay {
  private readonly key: KeyObject;
  private readonly handhelds = new Map<string, Set<string>>();
  private readonly latest = new Map<string, SourceMsg>();
  private readonly counts = { relayed: 0, failed: 0 };

  constructor(
    private readonly opts: {
      config: RelayConfig;
      /** Publishes retained at QoS 1; calls back with an error when the broker refused it. */
      publish: (topic: string, payload: string, done: (err?: Error) => void) => void;
      log: Logger;
    },
  ) {
    const file = opts.config.privateKey;
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (e) {
      throw new RelayError('E_CONFIG', `relay.privateKey: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      this.key = createPrivateKey(pem);
    } catch (e) {
      throw new RelayError('E_CONFIG', `relay.privateKey: ${file} is not a PEM private key (${(e as Error).message})`);
    }
    if (this.key.asymmetricKeyType !== 'ed25519') throw new RelayError('E_CONFIG', `relay.privateKey: ${file} is ${this.key.asymmetricKeyType}, expected ed25519`);
    for (const [site, nodes] of Object.entries(opts.config.handhelds ?? {})) for (const n of nodes) this.add(site, n);
  }

  stats(): RelayStats {
    let n = 0;
    for (const s of this.handhelds.values()) n += s.size;
    return { ...this.counts, handhelds: n };
  }

  /** Called with every accepted message (status included); never throws. */
  observe(kind: Kind, msg: AnyMessage): void {
    try {
      if (kind === 'status') {
        const s = msg as StatusMsg;
        // An offline handheld stays known: the retained command waits for it on the broker.
        if (s.role === 'handheld' && this.add(s.site, s.node)) {
          const last = this.latest.get(s.site);
          if (last) this.send(last, s.node);
        }
      } else if (kind === 'source') {
        const m = msg as SourceMsg;
        // A handheld's own refined estimate goes to the dashboard, not back to the handhelds as a new target.
        if (this.handhelds.get(m.site)?.has(m.node)) return;
        const prev = this.latest.get(m.site);
        // A late (backlog) estimate must not replace a newer one on the handhelds.
        if (prev && prev.ts > m.ts && prev.node === m.node) return;
        this.latest.set(m.site, m);
        for (const h of this.handhelds.get(m.site) ?? []) this.send(m, h);
      }
    } catch (e) {
      this.counts.failed++;
      this.opts.log.error({ err: (e as Error).message }, 'estimate relay failed');
    }
  }

  private add(site: string, node: string): boolean {
    let set = this.handhelds.get(site);
    if (!set) this.handhelds.set(site, (set = new Set()));
    if (set.has(node)) return false;
    set.add(node);
    return true;
  }

  private send(m: SourceMsg, handheld: string): void {
    const payload: EstimateCommand = { cmd: 'estimate', cmdId: `${m.node}/${m.estimateId}`, site: m.site, handheld, source: m };
    const env = signPayload(payload, this.key, this.opts.config.keyId);
    const topic = cmdTopic(m.site, handheld, 'estimate');
    this.opts.publish(topic, JSON.stringify(env), (err) => {
      if (err) {
        this.counts.failed++;
        this.opts.log.warn({ err: err.message, topic }, 'estimate relay publish failed');
      } else this.counts.relayed++;
    });
  }
}
