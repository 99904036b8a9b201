// Topic names shared by edge and cloud: customs/v1/<site>/<node>/<kind>, commands under .../cmd/<name>.

export const TOPIC_ROOT = 'customs/v1';
/** Dead letters live outside the data tree so that aggregators never consume their own rejects. */
export const DLQ_ROOT = 'customs-dlq/v1';

/** Message kinds a node publishes. `status` is retained state; the others are summaries carried by the outbox. */
export const KINDS = ['status', 'rad', 'alarm', 'source', 'xray', 'event', 'ack', 'spectrum'] as const;
export type Kind = (typeof KINDS)[number];

/** Commands the cloud or a technician sends to a node (signed; see issue on calibration). */
export const COMMANDS = ['calibration', 'config', 'model', 'estimate', 'capture'] as const;
export type Command = (typeof COMMANDS)[number];

/** Ids used as topic levels: lower-case, no MQTT wildcards or separators. */
export const ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
const ID_RE = new RegExp(ID_PATTERN);

export function isId(s: string): boolean {
  return ID_RE.test(s);
}

export function dataTopic(site: string, node: string, kind: Kind): string {
  return `${TOPIC_ROOT}/${site}/${node}/${kind}`;
}

export function cmdTopic(site: string, node: string, cmd: Command | '#'): string {
  return `${TOPIC_ROOT}/${site}/${node}/cmd/${cmd}`;
}

/** Subscription filter for every data topic (exactly three levels under the root, so commands are excluded). */
export function dataFilter(sharedGroup?: string): string {
  const f = `${TOPIC_ROOT}/+/+/+`;
  return sharedGroup ? `$share/${sharedGroup}/${f}` : f;
}

/**
 * End-to-end acknowledgements from the cloud to a node: which of its summaries an aggregator holds (spooled or in
 * InfluxDB). A broker's PUBACK only says the broker took a message, and a broker may drop it later (no subscriber
 * after a restart, a session that expired); the node forgets a summary only once the cloud confirmed it.
 */
export const ACK_ROOT = 'customs-ack/v1';

export function cloudAckTopic(site: string, node: string): string {
  return `${ACK_ROOT}/${site}/${node}`;
}

/** Aggregators of one shared-subscription group tell each other which seqs they spooled (gap accounting). */
export const PEER_ROOT = 'customs-agg/v1';

export function peerSeenTopic(group: string, aggregatorId: string): string {
  return `${PEER_ROOT}/${group}/seen/${aggregatorId}`;
}

/**
 * What an aggregator identity must be allowed on the broker: read every data topic and its peers'
 * announcements; write its dead letters, its own announcements and commands to nodes.
 */
export function aggregatorAclTopics(aggregatorId: string, group: string): { readTopics: string[]; writeTopics: string[] } {
  return {
    readTopics: [`${TOPIC_ROOT}/#`, `${PEER_ROOT}/${group}/#`],
    writeTopics: [`${DLQ_ROOT}/${aggregatorId}/#`, peerSeenTopic(group, aggregatorId), `${TOPIC_ROOT}/+/+/cmd/#`, `${ACK_ROOT}/#`],
  };
}

export function dlqTopic(aggregatorId: string, reason: string): string {
  return `${DLQ_ROOT}/${aggregatorId}/${reason}`;
}

export type ParsedTopic =
  | { ok: true; site: string; node: string; kind: Kind }
  | { ok: false; reason: string };

/** Parses a data topic; the reason names what was wrong so it can go to the dead-letter topic. */
export function parseDataTopic(topic: string): ParsedTopic {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) {
    return { ok: false, reason: `topic "${topic}": expected ${TOPIC_ROOT}/<site>/<node>/<kind>` };
  }
  const [, , site, node, kind] = parts as [string, string, string, string, string];
  if (!isId(site)) return { ok: false, reason: `topic "${topic}": site "${site}" does not match ${ID_PATTERN}` };
  if (!isId(node)) return { ok: false, reason: `topic "${topic}": node "${node}" does not match ${ID_PATTERN}` };
  if (!(KINDS as readonly string[]).includes(kind)) {
    return { ok: false, reason: `topic "${topic}": unknown kind "${kind}", expected one of ${KINDS.join(', ')}` };
  }
  return { ok: true, site, node, kind: kind as Kind };
}
