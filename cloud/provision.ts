// Device provisioning: a site CA, the broker's server certificate, per-node and per-service client certificates and their Mosquitto ACL entries, made with the system openssl.
//
// Identity model: the broker listener runs with `require_certificate true` and `use_identity_as_username true`, so
// the certificate CN is the MQTT username the acl_file is keyed on. Node ids must therefore be unique across all
// sites that share a broker: provisioning refuses to give one id to two sites.
//
// Keys are EC P-256, not Ed25519: the TPMs and secure elements that edge boxes keep their keys in implement P-256
// but not Ed25519, and so do older TLS stacks on the equipment side; P-256 works with every broker we target.
//
// What Mosquitto 2.0.11's acl_file enforces (checked against the real broker in test/security.integration.test.ts):
// - a PUBLISH outside the client's write patterns is dropped; an MQTT v5 client gets PUBACK 0x87 (not authorized).
// - a SUBSCRIBE is never refused: SUBACK grants any filter, and the read patterns are applied to each message's topic
//   at delivery. So a node that subscribes to another node's commands gets a granted SUBACK but no messages, and an
//   aggregator with `topic read customs/v1/#` may use `$share/<group>/customs/v1/+/+/+` (its ACL line carries no
//   `$share/` prefix). EMQX, HiveMQ and VerneMQ refuse such subscriptions outright.
// - the broker reads cafile/certfile/keyfile and the acl_file after dropping root to its `user` (default mosquitto),
//   so those files must be readable by that user; it re-reads the acl_file on SIGHUP.
// - without `use_username_as_clientid` the client id is whatever the client sends, and Mosquitto gives a client id
//   to the newest CONNECT: a node with its own valid certificate could connect as "node-b" (B is disconnected and its
//   Last Will published) or as an aggregator's client id (it resumes that persistent $share session and consumes
//   what was queued there). brokerListenerConfig() therefore binds the client id to the certificate CN as well.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CustomsError } from '../common/errors.js';
import { cloudAckTopic, ID_PATTERN, TOPIC_ROOT, isId } from '../protocol/topics.js';

export class ProvisionError extends CustomsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_PROVISION', message, options);
  }
}

const CA_DAYS = 3650;
const LEAF_DAYS = 825;
const CA_CERT = 'ca.crt';
const CA_KEY = 'ca.key';

export interface CaFiles {
  caCert: string;
  caKey: string;
}

export interface ClientFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  aclEntry: string;
}

// ---------------------------------------------------------------------------------------------------------------
// ACL entries

/** The acl_file block for a node: write its own data topics, read its own commands and the cloud's acknowledgements. */
export function aclEntryFor(site: string, node: string): string {
  checkId('site', site);
  checkId('node', node);
  const base = `${TOPIC_ROOT}/${site}/${node}`;
  // `+` rather than `#` for writes: data topics are exactly one level under the node (protocol/topics.ts), and a
  // single-level wildcard keeps a node from publishing under its own cmd/ tree, i.e. from forging commands to itself.
  // `+` alone would still allow the bare topic `<node>/cmd`, which the node's own `cmd/#` subscription matches;
  // nothing legitimate uses that exact topic, so it is denied both ways.
  return block(
    'node',
    node,
    [`topic write ${base}/+`, `topic read ${base}/cmd/#`, `topic deny ${base}/cmd`, `topic read ${cloudAckTopic(site, node)}`],
    `site ${site}`,
  );
}

/** The acl_file block for a cloud service identity (aggregator, command sender) with explicit topic patterns. */
export function aclEntryForService(name: string, readTopics: string[], writeTopics: string[]): string {
  checkId('service name', name);
  if (readTopics.length + writeTopics.length === 0) {
    throw new ProvisionError(`service "${name}": give at least one read or write topic, an identity with no access is useless`);
  }
  for (const t of [...readTopics, ...writeTopics]) checkAclTopic(name, t);
  // A topic both read and written becomes one readwrite line, which is what Mosquitto expects.
  const lines: string[] = [];
  const writes = new Set(writeTopics);
  for (const t of new Set(readTopics)) lines.push(`topic ${writes.has(t) ? 'readwrite' : 'read'} ${t}`);
  for (const t of writes) if (!readTopics.includes(t)) lines.push(`topic write ${t}`);
  return block('service', name, lines);
}

function block(kind: 'node' | 'service', user: string, lines: string[], note?: string): string {
  return [`${beginMarker(kind, user)}${note ? ` (${note})` : ''}`, `user ${user}`, ...lines, endMarker(kind, user), ''].join('\n');
}

const MARK = '# customs-provision';
const beginMarker = (kind: string, user: string) => `${MARK} begin ${kind} ${user}`;
const endMarker = (kind: string, user: string) => `${MARK} end ${kind} ${user}`;

function checkId(what: string, v: string): void {
  if (typeof v !== 'string' || !isId(v)) {
    throw new ProvisionError(`${what} ${JSON.stringify(v)} is not a valid id: expected ${ID_PATTERN} (lower-case letters, digits, _ and -)`);
  }
}

function checkAclTopic(service: string, t: string): void {
  const bad = (why: string) => new ProvisionError(`service "${service}": ACL topic ${JSON.stringify(t)} ${why}`);
  if (!t || /[\s\0]/.test(t)) throw bad('must be non-empty without whitespace or NUL');
  if (t.startsWith('$share/')) throw bad('must not carry $share/<group>/: Mosquitto checks shared subscriptions against the plain filter');
  const levels = t.split('/');
  levels.forEach((l, i) => {
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) throw bad('may use # only as the whole last level');
    if (l.includes('+') && l !== '+') throw bad('may use + only as a whole level');
  });
}

interface ParsedBlock {
  kind: string;
  user: string;
  note: string;
  start: number;
  end: number;
}

/**
 * Replaces the managed block for `user` in the acl_file (or appends it), keeping everything else as it was.
 * `conflict` decides whether an existing block for the same user may be replaced; it returns a reason to refuse.
 */
async function upsertAcl(aclFile: string, kind: 'node' | 'service', user: string, entry: string, conflict: (b: ParsedBlock) => string | undefined): Promise<void> {
  await withFileLock(aclFile, async () => {
    let text = '';
    try {
      text = await readFile(aclFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ProvisionError(`cannot read ACL file ${aclFile}: ${(e as Error).message}`, { cause: e });
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const blocks = parseBlocks(aclFile, lines);
    const mine = blocks.filter((b) => b.user === user);
    for (const b of mine) {
      if (b.kind !== kind) {
        throw new ProvisionError(`${aclFile}:${b.start + 1}: username "${user}" is already provisioned as a ${b.kind}; a ${kind} cannot share it (certificate CN = MQTT username)`);
      }
      const why = conflict(b);
      if (why) throw new ProvisionError(`${aclFile}:${b.start + 1}: ${why}`);
    }
    // A hand-written `user` line for the same name would add to our grants (Mosquitto merges them): refuse.
    lines.forEach((l, i) => {
      const inBlock = blocks.some((b) => i >= b.start && i <= b.end);
      if (!inBlock && /^\s*user\s+/.test(l) && l.trim().split(/\s+/)[1] === user) {
        throw new ProvisionError(`${aclFile}:${i + 1}: unmanaged "user ${user}" entry; remove it so that provisioning owns this user's access`);
      }
    });
    const kept = lines.filter((_, i) => !mine.some((b) => i >= b.start && i <= b.end));
    while (kept.length && kept.at(-1)!.trim() === '') kept.pop();
    const out = [...kept, ...(kept.length ? [''] : []), entry.trimEnd(), ''].join('\n');
    await mkdir(dirname(aclFile), { recursive: true });
    await writeAtomic(aclFile, out, 0o644);
  });
}

function parseBlocks(file: string, lines: string[]): ParsedBlock[] {
  const out: ParsedBlock[] = [];
  let open: Omit<ParsedBlock, 'end'> | undefined;
  lines.forEach((l, i) => {
    const m = /^# customs-provision (begin|end) (node|service) (\S+)(?: \((.*)\))?\s*$/.exec(l);
    if (!m) return;
    const [, edge, kind, user, note] = m as unknown as [string, string, string, string, string | undefined];
    if (edge === 'begin') {
      if (open) throw new ProvisionError(`${file}:${i + 1}: block for "${user}" begins inside the block for "${open.user}" opened at line ${open.start + 1}`);
      open = { kind, user, note: note ?? '', start: i };
    } else {
      if (!open || open.user !== user || open.kind !== kind) throw new ProvisionError(`${file}:${i + 1}: "end ${kind} ${user}" without a matching begin line`);
      out.push({ ...open, end: i });
      open = undefined;
    }
  });
  if (open) throw new ProvisionError(`${file}:${open.start + 1}: block for "${open.user}" has no end line`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Broker listener

export interface BrokerListenerOptions {
  /** TCP port of the TLS listener (8883 in production). */
  port: number;
  /** Address to bind; all interfaces when left out. */
  host?: string;
  /** The site CA that signed the client certificates (and the broker's own). */
  caFile: string;
  certFile: string;
  keyFile: string;
  aclFile: string;
}

/**
 * The mosquitto.conf lines of the TLS listener the provisioned identities are meant for (Mosquitto 2.0): a client
 * certificate signed by the site CA is required, its CN becomes the MQTT username (the acl_file's key) and also the
 * client id, whatever client id the CONNECT carries. So an edge node's client id is its node id and an aggregator's
 * is the service name it was provisioned under (customs-agg-<id>); every member of an aggregator group needs a
 * certificate of its own, or two members with one certificate would keep disconnecting each other.
 */
export function brokerListenerConfig(o: BrokerListenerOptions): string {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new ProvisionError(`broker listener: port must be an integer from 0 to 65535, got ${o.port}`);
  for (const [k, v] of Object.entries({ caFile: o.caFile, certFile: o.certFile, keyFile: o.keyFile, aclFile: o.aclFile })) {
    // mosquitto.conf has no quoting: a value runs to the end of the line.
    if (typeof v !== 'string' || !v || /[\r\n]/.test(v)) throw new ProvisionError(`broker listener: ${k} must be a file path on one line, got ${JSON.stringify(v)}`);
  }
  return [
    `listener ${o.port}${o.host ? ` ${o.host}` : ''}`,
    `cafile ${o.caFile}`,
    `certfile ${o.certFile}`,
    `keyfile ${o.keyFile}`,
    'require_certificate true',
    'use_identity_as_username true',
    // The client id a CONNECT carries is replaced by the username, i.e. the certificate CN: nobody can take another
    // identity's session, Last Will or queued messages, and a node's or aggregator's own reconnect resumes its own.
    'use_username_as_clientid true',
    `acl_file ${o.aclFile}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates

/** Creates the site CA in caDir (ca.crt, ca.key), or returns the one already there after checking it belongs to `site`. */
export async function initCa(opts: { caDir: string; site: string; days?: number }): Promise<CaFiles> {
  checkId('site', opts.site);
  const days = checkDays(opts.days ?? CA_DAYS);
  const caCert = join(opts.caDir, CA_CERT);
  const caKey = join(opts.caDir, CA_KEY);
  const [hasCert, hasKey] = await Promise.all([exists(caCert), exists(caKey)]);
  if (hasCert && hasKey) {
    await loadCa(opts.caDir, opts.site);
    return { caCert, caKey };
  }
  if (hasCert !== hasKey) {
    throw new ProvisionError(`CA in ${opts.caDir} is incomplete: ${hasCert ? caKey : caCert} is missing; restore it or empty the directory to make a new CA`);
  }
  await mkdir(opts.caDir, { recursive: true, mode: 0o700 });
  await withTemp(async (tmp) => {
    const key = await newKey();
    const keyTmp = join(tmp, 'ca.key');
    await writeFile(keyTmp, key, { mode: 0o600 });
    const cnf = join(tmp, 'ca.cnf');
    await writeFile(
      cnf,
      [
        '[req]',
        'distinguished_name = dn',
        'x509_extensions = v3_ca',
        '[dn]',
        '[v3_ca]',
        // pathlen:0: the CA signs leaves only, so a stolen node key can never mint certificates.
        'basicConstraints = critical, CA:TRUE, pathlen:0',
        'keyUsage = critical, keyCertSign, cRLSign',
        'subjectKeyIdentifier = hash',
        '',
      ].join('\n'),
    );
    const cert = await openssl(
      ['req', '-new', '-x509', '-config', cnf, '-key', keyTmp, '-sha256', '-days', String(days), '-set_serial', serial(), '-subj', `/O=customs/OU=${opts.site}/CN=${caCn(opts.site)}`],
      `creating the CA certificate for site ${opts.site}`,
    );
    // Key before certificate, each atomically: a crash leaves either nothing usable or a complete pair.
    await writeAtomic(caKey, key, 0o600);
    await writeAtomic(caCert, cert, 0o644);
  });
  return { caCert, caKey };
}

/** Issues the broker's server certificate with every host as a SAN (IP or DNS); overwrites server.crt/server.key in outDir. */
export async function issueServerCert(opts: { caDir: string; outDir: string; hosts: string[]; days?: number }): Promise<{ certFile: string; keyFile: string }> {
  if (!Array.isArray(opts.hosts) || opts.hosts.length === 0) throw new ProvisionError('issueServerCert: hosts must list at least one DNS name or IP address');
  const san = opts.hosts.map((h) => {
    if (isIP(h)) return `IP:${h}`;
    if (/^(?=.{1,253}$)(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(h)) return `DNS:${h}`;
    throw new ProvisionError(`issueServerCert: host ${JSON.stringify(h)} is neither an IP address nor a DNS name`);
  });
  const ca = await loadCa(opts.caDir);
  const certFile = join(opts.outDir, 'server.crt');
  const keyFile = join(opts.outDir, 'server.key');
  const cn = opts.hosts[0]!;
  await issueLeaf({
    ca,
    subject: `/O=customs/CN=${cn}`,
    extensions: ['extendedKeyUsage = serverAuth', `subjectAltName = ${san.join(', ')}`],
    purpose: 'sslserver',
    days: checkDays(opts.days ?? LEAF_DAYS),
    certFile,
    keyFile,
    what: `the broker certificate for ${opts.hosts.join(', ')}`,
  });
  return { certFile, keyFile };
}

/**
 * Issues a node's client certificate (CN = node id, clientAuth only) into outDir as <node>.crt/<node>.key plus a
 * copy of the CA as ca.crt, and writes the node's block into aclFile. Re-running re-issues the key and certificate
 * (rotation) and replaces the ACL block, so it is safe to repeat.
 */
export async function provisionNode(opts: { node: string; site: string; caDir: string; outDir: string; aclFile: string; days?: number }): Promise<ClientFiles> {
  checkId('node', opts.node);
  checkId('site', opts.site);
  const aclEntry = aclEntryFor(opts.site, opts.node);
  const ca = await loadCa(opts.caDir, opts.site);
  const files = await issueClient({ ca, name: opts.node, ou: opts.site, outDir: opts.outDir, days: opts.days, what: `node ${opts.site}/${opts.node}` });
  await upsertAcl(opts.aclFile, 'node', opts.node, aclEntry, (b) =>
    b.note && b.note !== `site ${opts.site}`
      ? `node id "${opts.node}" is already provisioned for ${b.note}; node ids are broker usernames and must be unique across sites`
      : undefined,
  );
  return { ...files, aclEntry };
}

/** Issues a cloud service identity (e.g. the aggregator) with explicit ACL topics; same files and idempotence as provisionNode. */
export async function provisionService(opts: {
  name: string;
  caDir: string;
  outDir: string;
  aclFile: string;
  readTopics: string[];
  writeTopics: string[];
  days?: number;
}): Promise<ClientFiles> {
  const aclEntry = aclEntryForService(opts.name, opts.readTopics, opts.writeTopics);
  const ca = await loadCa(opts.caDir);
  const files = await issueClient({ ca, name: opts.name, ou: 'cloud', outDir: opts.outDir, days: opts.days, what: `service ${opts.name}` });
  await upsertAcl(opts.aclFile, 'service', opts.name, aclEntry, () => undefined);
  return { ...files, aclEntry };
}

async function issueClient(o: { ca: CaFiles; name: string; ou: string; outDir: string; days: number | undefined; what: string }): Promise<Omit<ClientFiles, 'aclEntry'>> {
  const certFile = join(o.outDir, `${o.name}.crt`);
  const keyFile = join(o.outDir, `${o.name}.key`);
  const caFile = join(o.outDir, CA_CERT);
  await issueLeaf({
    ca: o.ca,
    subject: `/O=customs/OU=${o.ou}/CN=${o.name}`,
    extensions: ['extendedKeyUsage = clientAuth'],
    purpose: 'sslclient',
    days: checkDays(o.days ?? LEAF_DAYS),
    certFile,
    keyFile,
    what: o.what,
  });
  // The box gets a self-contained directory: its key, its certificate and the CA that signed the broker's.
  if (caFile !== o.ca.caCert) await copyFile(o.ca.caCert, caFile);
  return { certFile, keyFile, caFile };
}

async function issueLeaf(o: {
  ca: CaFiles;
  subject: string;
  extensions: string[];
  purpose: 'sslclient' | 'sslserver';
  days: number;
  certFile: string;
  keyFile: string;
  what: string;
}): Promise<void> {
  await mkdir(dirname(o.certFile), { recursive: true });
  await withTemp(async (tmp) => {
    const key = await newKey();
    const keyTmp = join(tmp, 'leaf.key');
    await writeFile(keyTmp, key, { mode: 0o600 });
    const cnf = join(tmp, 'leaf.cnf');
    await writeFile(
      cnf,
      [
        '[req]',
        'distinguished_name = dn',
        '[dn]',
        '[leaf]',
        'basicConstraints = critical, CA:FALSE',
        // ECDSA keys sign the handshake and never encrypt a premaster secret, so digitalSignature is the only usage.
        'keyUsage = critical, digitalSignature',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid:always',
        ...o.extensions,
        '',
      ].join('\n'),
    );
    const csr = join(tmp, 'leaf.csr');
    await openssl(['req', '-new', '-config', cnf, '-key', keyTmp, '-subj', o.subject, '-out', csr], `creating the request for ${o.what}`);
    const cert = await openssl(
      ['x509', '-req', '-in', csr, '-CA', o.ca.caCert, '-CAkey', o.ca.caKey, '-set_serial', serial(), '-days', String(o.days), '-sha256', '-extfile', cnf, '-extensions', 'leaf'],
      `signing the certificate for ${o.what} with ${o.ca.caCert}`,
    );
    const certTmp = join(tmp, 'leaf.crt');
    await writeFile(certTmp, cert);
    await openssl(['verify', '-CAfile', o.ca.caCert, '-purpose', o.purpose, certTmp], `verifying the new certificate for ${o.what}`);
    await writeAtomic(o.keyFile, key, 0o600);
    await writeAtomic(o.certFile, cert, 0o644);
  });
}

/** Checks that caDir holds a CA whose key matches its certificate (and, given a site, that it is that site's CA). */
async function loadCa(caDir: string, site?: string): Promise<CaFiles> {
  const caCert = join(caDir, CA_CERT);
  const caKey = join(caDir, CA_KEY);
  for (const f of [caCert, caKey]) {
    if (!(await exists(f))) throw new ProvisionError(`no CA in ${caDir}: ${f} is missing (create it with: customs-cloud init-ca --site <site> --ca-dir <dir>)`);
  }
  const subject = await openssl(['x509', '-in', caCert, '-noout', '-subject', '-nameopt', 'RFC2253'], `reading the CA certificate ${caCert}`);
  const cn = /(?:^|[=,])\s*CN=([^,\n]+)/.exec(subject.replace(/^subject=/, ''))?.[1]?.trim();
  if (site !== undefined && cn !== caCn(site)) {
    throw new ProvisionError(`${caCert} is the CA "${cn ?? subject.trim()}", not the CA of site "${site}" (expected CN ${caCn(site)})`);
  }
  const [fromCert, fromKey] = await Promise.all([
    openssl(['x509', '-in', caCert, '-noout', '-pubkey'], `reading the public key of ${caCert}`),
    openssl(['pkey', '-in', caKey, '-pubout'], `reading the CA key ${caKey}`),
  ]);
  if (fromCert.trim() !== fromKey.trim()) throw new ProvisionError(`${caKey} does not belong to ${caCert} (public keys differ)`);
  return { caCert, caKey };
}

const caCn = (site: string) => `customs-ca-${site}`;

async function newKey(): Promise<string> {
  return openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'generating a P-256 key');
}

/** Random positive 127-bit serial: unique without a serial file that concurrent runs would race on. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return `0x${b.toString('hex')}`;
}

function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > 36500) throw new ProvisionError(`days must be an integer from 1 to 36500, got ${days}`);
  return days;
}

function openssl(args: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return reject(new ProvisionError(`${what}: the openssl binary is not on PATH`, { cause: err }));
      const detail = (stderr || stdout).trim().split('\n').slice(-6).join('\n  ');
      reject(new ProvisionError(`${what}: openssl ${args[0]} failed (exit ${String(e.code ?? '?')}):\n  ${detail}`, { cause: err }));
    });
  });
}

async function exists(f: string): Promise<boolean> {
  try {
    await stat(f);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new ProvisionError(`cannot stat ${f}: ${(e as Error).message}`, { cause: e });
  }
}

async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new ProvisionError(`cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'customs-provision-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Serialises read-modify-write of the acl_file across processes with an O_EXCL lock file next to it. */
async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  await mkdir(dirname(file), { recursive: true });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const h = await open(lock, 'wx');
      await h.writeFile(String(process.pid));
      await h.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ProvisionError(`cannot create lock ${lock}: ${(e as Error).message}`, { cause: e });
      if (Date.now() > deadline) throw new ProvisionError(`${lock} is held for over 10 s; if no provisioning is running, remove it`);
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
