// Rollback replay (issue 12 item 5): the node's durable seen set refuses any calibration record it saw before,
// rollbacks included, also after a restart, where the stateless acceptance rules alone would apply it again.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acceptanceProblem, newRecord, signRecord, type CalibrationRecord, type SignedRecord } from '../../protocol/calibration-record.js';
import { CalibrationStore, SEEN_FILE } from '../../edge/runtime/calibration-store.js';
import type { Commands } from '../../contract/component.js';
import { generateSigningKey } from '../../protocol/index.js';
import { deviceContext, type DeviceContext } from '../helpers/device-context.js';
import { tempDir } from '../harness/services.js';
import { until } from '../helpers/wait.js';

const key = generateSigningKey();
const now = Date.now();
let n = 0;

/** A record of det-a with `version`; with `from`, a rollback from that version carrying version `version`'s results. */
function record(version: number, from?: number): { rec: CalibrationRecord; env: SignedRecord } {
  const rec = newRecord({
    detector: 'det-a',
    version,
    method: ['energy'],
    inputs: [],
    // Distinct results per record, so that the active calibration shows which record applied.
    results: { energy: { coefficients: [n++, 3] } },
    technician: 'T',
    now_ms: now,
    ...(from !== undefined ? { rollback: { fromVersion: from } } : {}),
  });
  return { rec, env: signRecord(rec, key.privateKeyPem, 'tech') };
}

interface Node {
  store: CalibrationStore;
  dc: DeviceContext;
  /** Pushes a record and resolves with the node's acknowledgement. */
  push(env: SignedRecord): Promise<{ ok: boolean; reason?: string }>;
  active(): string | undefined;
}

async function startNode(dir: string): Promise<Node> {
  const store = new CalibrationStore({ name: 'calib', type: 'calibration', options: { trustedKeys: { tech: key.publicKeyPem }, dir, detectors: ['det-a'] } });
  const dc = deviceContext();
  const commands = new EventEmitter<Commands>();
  await store.start({ ...dc.ctx, commands });
  return {
    store,
    dc,
    async push(env) {
      const before = dc.emitted.length;
      commands.emit('calibration', Buffer.from(JSON.stringify(env)), 'customs/v1/test/veh-01/cmd/calibration');
      await until('the acknowledgement', () => dc.emitted.length > before, 5000);
      return dc.emitted.at(-1)!.body as { ok: boolean; reason?: string };
    },
    active: () => store.versions().calibration['det-a'],
  };
}

t.test('a replayed rollback is refused after a later rollback, and after a restart', async (t) => {
  const dir = tempDir('calib-replay');
  let node = await startNode(dir);
  t.teardown(() => node.store.stop());
  const v1 = record(1);
  const v2 = record(2);
  const v3 = record(3);
  const rb32 = record(2, 3);
  const v4 = record(4);
  const rb43 = record(3, 4);
  for (const r of [v1, v2, v3]) t.match(await node.push(r.env), { ok: true }, `${r.rec.id} applied`);
  t.match(await node.push(rb32.env), { ok: true }, 'rollback 3 → 2 applied');
  t.equal(node.active(), 'det-a@2');
  t.match(await node.push(v4.env), { ok: true }, 'version 4 applied');
  t.match(await node.push(rb43.env), { ok: true }, 'rollback 4 → 3 applied');
  t.equal(node.active(), 'det-a@3');

  // The fault: judged against the active record alone, the old "3 → 2" is acceptable again now.
  t.equal(acceptanceProblem(rb32.rec, { detectors: ['det-a'], active: rb43.rec, maxSeen: 4, now_ms: now }), undefined, 'the stateless rules would apply the replay');
  const replay = await node.push(rb32.env);
  t.match(replay, { ok: false, reason: new RegExp(`record ${rb32.rec.id} was already seen by this node`) }, 'the replayed rollback is refused with a reason');
  t.equal(node.active(), 'det-a@3', 'the node stays on version 3');
  t.same(node.store.active()[0]?.energy, rb43.rec.results.energy, 'with the results of rollback 4 → 3');
  t.match(await node.push(rb43.env), { ok: true, reason: /already active/ }, 'the active record pushed again gets its idempotent answer');

  const seenFile = join(dir, SEEN_FILE);
  t.ok(existsSync(seenFile) && !existsSync(`${seenFile}.tmp`), 'the seen set is on disk (temporary file renamed)');
  const onDisk = JSON.parse(readFileSync(seenFile, 'utf8')) as { detectors: Record<string, { ids: string[]; versions: number[] }> };
  t.same(new Set(onDisk.detectors['det-a']!.ids), new Set([v1, v2, v3, rb32, v4, rb43].map((r) => r.rec.id)), 'every applied record id');
  t.same(onDisk.detectors['det-a']!.versions, [1, 2, 3, 4], 'and every new version');

  // Restart: the seen set comes back from disk.
  await node.store.stop();
  node = await startNode(dir);
  t.equal(node.active(), 'det-a@3', 'version 3 active after the restart');
  t.match(await node.push(rb32.env), { ok: false, reason: /already seen/ }, 'the replay is refused after the restart too');
  for (const r of [v1, v2, v3, v4]) t.match(await node.push(r.env), { ok: false }, `${r.rec.id} replayed: refused`);
  t.equal(node.active(), 'det-a@3');

  // A fresh rollback 3 → 2, signed anew (a new id), is a new decision and is applied.
  const again = record(2, 3);
  t.match(await node.push(again.env), { ok: true }, 'a newly signed rollback 3 → 2 applies');
  t.equal(node.active(), 'det-a@2');
});

t.test('a rollback refused as stale stays refused when the version it names comes back', async (t) => {
  const dir = tempDir('calib-stale');
  let node = await startNode(dir);
  t.teardown(() => node.store.stop());
  const [v1, v2, v3] = [record(1), record(2), record(3)];
  const rb21 = record(1, 2); // signed while 2 was active, delivered only after 3
  for (const r of [v1, v2, v3]) await node.push(r.env);
  t.match(await node.push(rb21.env), { ok: false, reason: /active version of det-a is 3/ }, 'stale rollback refused by the rules');
  await node.store.stop();
  node = await startNode(dir);
  t.match(await node.push(record(2, 3).env), { ok: true }, 'a rollback 3 → 2: version 2 is active again');
  t.equal(acceptanceProblem(rb21.rec, { active: { ...rb21.rec, version: 2, rollback: { fromVersion: 3 } }, maxSeen: 3, now_ms: now }), undefined, 'the rules alone would now take the stale one');
  t.match(await node.push(rb21.env), { ok: false, reason: new RegExp(`record ${rb21.rec.id} was already seen`) }, 'the seen set refuses it');
  t.equal(node.active(), 'det-a@2');
});

t.test('an unreadable seen set stops the store with the file named, instead of forgetting what was seen', async (t) => {
  const dir = tempDir('calib-seen-bad');
  const node = await startNode(dir);
  await node.push(record(1).env);
  await node.store.stop();
  writeFileSync(join(dir, SEEN_FILE), '{"format":"customs-calibration-seen/1","detectors":{"det-a":{"ids":[1],"versions":[]}}}');
  const store = new CalibrationStore({ name: 'calib', type: 'calibration', options: { trustedKeys: { tech: key.publicKeyPem }, dir, detectors: ['det-a'] } });
  await t.rejects(store.start({ ...deviceContext().ctx, commands: new EventEmitter<Commands>() }), {
    code: 'E_CALIBRATION_SEEN',
    message: new RegExp(`${join(dir, SEEN_FILE).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: detectors\\.det-a: expected`),
  });
  writeFileSync(join(dir, SEEN_FILE), 'not json');
  await t.rejects(new CalibrationStore({ name: 'calib', type: 'calibration', options: { trustedKeys: { tech: key.publicKeyPem }, dir, detectors: ['det-a'] } }).start({ ...deviceContext().ctx, commands: new EventEmitter<Commands>() }), {
    message: /not JSON.*calibration seen set/,
  });
});
