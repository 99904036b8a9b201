// The protocol contract: topics, schema validation messages, decode() rejections by reason.
import t from 'tap';
import { decode, validate, parseDataTopic, dataFilter, cmdTopic, formatErrors, priorityOf, KINDS, toRanges, decodeCloudAck, cloudAckTopic, aggregatorAclTopics } from '../../protocol/index.js';

const env = { v: 1, node: 'veh-01', site: 'port-a', boot: '0123456789abcdef', seq: 3, ts: 1_763_700_000_000, tsTrusted: true, mono_ms: 1200 };
const rad = { ...env, live_s: 1, gross_cps: 812.5, detectors: [{ id: 'd1', cps: 203 }] };

t.test('topics', async (t) => {
  t.same(parseDataTopic('customs/v1/port-a/veh-01/rad'), { ok: true, site: 'port-a', node: 'veh-01', kind: 'rad' });
  t.match(parseDataTopic('customs/v1/port-a/veh-01/cmd/calibration'), { ok: false });
  t.match(parseDataTopic('customs/v1/port-a/veh-01/bogus'), { ok: false, reason: /unknown kind "bogus"/ });
  t.match(parseDataTopic('customs/v1/Port A/veh-01/rad'), { ok: false, reason: /site "Port A"/ });
  t.equal(dataFilter('g1'), '$share/g1/customs/v1/+/+/+');
  t.equal(cmdTopic('port-a', 'veh-01', '#'), 'customs/v1/port-a/veh-01/cmd/#');
  t.equal(priorityOf('alarm'), 'critical');
  t.equal(priorityOf('rad'), 'routine');
  t.equal(KINDS.length, 8);
});

t.test('decode accepts a valid message and names every rejection', async (t) => {
  const ok = decode('customs/v1/port-a/veh-01/rad', JSON.stringify(rad));
  t.equal(ok.ok, true);
  t.match(decode('customs/v1/port-a/veh-01/rad', '{"v":1,'), { ok: false, reason: 'not_json' });
  t.match(decode('customs/v1/port-a/veh-01/rad', Buffer.alloc(70_000, 32)), { ok: false, reason: 'oversized' });
  t.match(decode('customs/v2/port-a/veh-01/rad', JSON.stringify(rad)), { ok: false, reason: 'unknown_topic' });
  t.match(decode('customs/v1/port-a/veh-02/rad', JSON.stringify(rad)), { ok: false, reason: 'mismatch' });
  const bad = decode('customs/v1/port-a/veh-01/rad', JSON.stringify({ ...rad, gross_cps: -1, extra: 1, seq: 'x' }));
  t.match(bad, { ok: false, reason: 'schema' });
  if (!bad.ok) {
    t.match(bad.detail, /\/gross_cps: must be >= 0/);
    t.match(bad.detail, /unexpected property "extra"/);
    t.match(bad.detail, /\/seq: must be integer/);
  }
});

t.test('a union of literals reads as one "expected one of" line', async (t) => {
  const r = validate('xray', { ...env, scanId: 's1', decision: 'maybe', reasons: [], detections: [], latency_ms: 3 });
  t.equal(r.ok, false);
  if (!r.ok) t.same(r.errors, ['/decision: expected one of ["clear","review","inspect"]']);
  t.same(formatErrors([]), []);
});

t.test('cloud acknowledgements: seq ranges and decoding', async (t) => {
  t.same(toRanges([5, 3, 4, 9, 3, 10, 12]), [[3, 5], [9, 10], [12, 12]]);
  t.same(toRanges([]), []);
  t.same(decodeCloudAck('{"v":1,"boot":"0123abcd","r":[[0,4],[7,7]]}'), { v: 1, boot: '0123abcd', r: [[0, 4], [7, 7]] });
  t.equal(decodeCloudAck('{"v":1,"boot":"0123abcd","r":[[0]]}'), undefined, 'a range needs two ends');
  t.equal(decodeCloudAck('not json'), undefined);
  t.equal(cloudAckTopic('port-a', 'veh-01'), 'customs-ack/v1/port-a/veh-01');
  t.match(aggregatorAclTopics('agg-1', 'g').writeTopics, ['customs-dlq/v1/agg-1/#', 'customs-agg/v1/g/seen/agg-1', 'customs/v1/+/+/cmd/#', 'customs-ack/v1/#']);
});
