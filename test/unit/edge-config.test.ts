// The edge config loader: YAML and JSON with defaults, every problem of a bad file at once, unreadable and malformed files.
import t from 'tap';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEdgeConfig, parseEdgeConfig, type EdgeConfig } from '../../edge/runtime/config.js';
import { ConfigError } from '../../common/errors.js';
import { tempDir } from '../harness/services.js';

const dir = tempDir('edge-config');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const YAML_GOOD = `# vehicle 1 at the Rotterdam port
node: veh-01
site: rotterdam
role: vehicle
broker:
  url: mqtts://broker.example:8883
  ca: /etc/customs/ca.pem
  cert: /etc/customs/veh-01.pem
  key: /etc/customs/veh-01.key
outbox:
  dir: /var/lib/customs/outbox
  fsync: interval
devices: []
pipelines:
  - name: demo
    type: synthetic
    options: { rate_hz: 2, alarmEvery: 30 }
`;

const EXPECTED: EdgeConfig = {
  node: 'veh-01',
  site: 'rotterdam',
  role: 'vehicle',
  broker: {
    url: 'mqtts://broker.example:8883',
    ca: '/etc/customs/ca.pem',
    cert: '/etc/customs/veh-01.pem',
    key: '/etc/customs/veh-01.key',
    keepalive_s: 30,
    protocolVersion: 5,
    reconnect_ms: 1000,
  },
  outbox: {
    dir: '/var/lib/customs/outbox',
    maxBytes: 256 * 1024 * 1024,
    segmentBytes: 4 * 1024 * 1024,
    fsync: 'interval',
    fsyncInterval_ms: 1000,
    inflight: 256,
    backlogRate_per_s: 500,
    cloudAck: true,
    cloudAckTimeout_s: 30,
  },
  clock: { trust: 'ntp' },
  health: { heartbeat_s: 10 },
  devices: [],
  pipelines: [{ name: 'demo', type: 'synthetic', options: { rate_hz: 2, alarmEvery: 30 } }],
};

t.test('a good YAML config loads with every default filled', async (t) => {
  t.same(loadEdgeConfig(file('good.yaml', YAML_GOOD)), EXPECTED);
});

t.test('the same config as JSON loads to the same value', async (t) => {
  const json = structuredClone(EXPECTED) as Partial<EdgeConfig>;
  delete json.clock;
  delete json.health;
  const cfg = loadEdgeConfig(file('good.json', JSON.stringify({ ...json, broker: { ...json.broker, keepalive_s: undefined } }, null, 2)));
  t.same(cfg, EXPECTED);
});

t.test('a minimal config gets the defaults of every optional section', async (t) => {
  const cfg = loadEdgeConfig(file('min.yaml', 'node: h1\nsite: s1\nrole: handheld\nbroker: { url: "mqtt://127.0.0.1:1883" }\noutbox: { dir: ./outbox }\n'));
  t.equal(cfg.outbox.fsync, 'always');
  t.equal(cfg.clock.trust, 'ntp');
  t.equal(cfg.health.heartbeat_s, 10);
  t.same(cfg.devices, []);
  t.same(cfg.pipelines, []);
});

t.test('a bad config reports every problem at once as `path: what was expected`', async (t) => {
  const bad = `site: rotterdam
role: truck
colour: blue
broker:
  url: http://broker.example
  keepalive_s: 2
  cert: /etc/customs/veh-01.pem
outbox:
  dir: /var/lib/customs/outbox
  fsync: sometimes
clock:
  trust: sundial
devices:
  - name: gps
    type: gps
pipelines:
  - name: radiation
    type: synthetic
  - name: gps
    type: synthetic
    colour: red
`;
  const p = file('bad.yaml', bad);
  const err = configError(() => loadEdgeConfig(p));
  t.equal(err.code, 'E_CONFIG');
  t.equal(err.file, p);
  t.same(err.problems, [
    `/: must have required property 'node'`,
    '/: unexpected property "colour"',
    '/role: expected one of ["vehicle","handheld","xray","camera"]',
    '/broker/url: must match pattern "^(mqtt|mqtts|tcp|tls|ssl)://"',
    '/broker/keepalive_s: must be >= 5',
    '/outbox/fsync: expected one of ["always","interval","never"]',
    '/clock/trust: expected one of ["ntp","gps","assume","never"]',
    '/pipelines/1: unexpected property "colour"',
    '/pipelines/1/name: name "gps" already used at /devices/0/name',
    '/broker: cert and key must be given together',
  ]);
  t.match(err.message, new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: invalid configuration\\n  /: must have`));
  t.equal(err.message.split('\n').length, 11, 'one header line and one line per problem');
});

t.test('duplicate names are caught on their own too, within one list', async (t) => {
  const err = configError(() =>
    parseEdgeConfig('inline', {
      node: 'n1',
      site: 's1',
      role: 'xray',
      broker: { url: 'mqtt://localhost' },
      outbox: { dir: 'o' },
      pipelines: [{ name: 'a', type: 'synthetic' }, { name: 'b', type: 'synthetic' }, { name: 'a', type: 'synthetic' }],
    }),
  );
  t.same(err.problems, ['/pipelines/2/name: name "a" already used at /pipelines/0/name']);
});

t.test('a value that is not an object at all is reported, not crashed on', async (t) => {
  const err = configError(() => parseEdgeConfig('list.yaml', [1, 2]));
  t.same(err.problems, ['/: must be object']);
  const err2 = configError(() => parseEdgeConfig('x.yaml', { node: 'n', site: 's', role: 'camera', broker: 7, outbox: { dir: 'o' }, devices: 'gps' }));
  t.same(err2.problems, ['/broker: must be object', '/devices: must be array']);
});

t.test('an unreadable file names the file and the reason', async (t) => {
  const missing = join(dir, 'nope.yaml');
  const err = configError(() => loadEdgeConfig(missing));
  t.equal(err.file, missing);
  t.same(err.problems, ['/: cannot read file (ENOENT)']);
  t.match(err.message, missing);
  const sub = join(dir, 'a-directory');
  mkdirSync(sub);
  t.same(configError(() => loadEdgeConfig(sub)).problems, ['/: cannot read file (EISDIR)']);
});

t.test('YAML and JSON syntax errors name the file, line and column', async (t) => {
  const cases: { name: string; text: string; where: string; what: RegExp }[] = [
    {
      name: 'dup.yaml',
      text: 'node: veh-01\nsite: rdam\nrole: vehicle\nbroker:\n  url: mqtt://x:1883\n  url: mqtt://y:1883\noutbox:\n  dir: /x\n',
      where: 'line 6, column 3',
      what: /Map keys must be unique/,
    },
    {
      name: 'tab.yaml',
      text: 'node: veh-01\nsite: rdam\nrole: vehicle\nbroker:\n  url: mqtt://x:1883\n\tkeepalive_s: 5\n',
      where: 'line 6, column 1',
      what: /Tabs are not allowed/,
    },
    {
      name: 'comma.json',
      text: '{\n  "node": "veh-01",\n  "site": "rdam"\n  "role": "vehicle"\n}\n',
      where: 'line 4, column 3',
      what: /Missing ,/,
    },
  ];
  for (const c of cases) {
    const p = file(c.name, c.text);
    const err = configError(() => loadEdgeConfig(p));
    t.equal(err.file, p);
    t.equal(err.problems.length, 1);
    t.ok(err.problems[0]?.startsWith(`${c.where}: `), `${c.name}: ${err.problems[0]}`);
    t.match(err.problems[0], c.what);
    t.ok(err.message.startsWith(`${p}: invalid configuration`), 'message names the file');
  }
});
