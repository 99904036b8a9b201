// A newcomer's first hour, for real: a fresh copy of the repository, `npm ci`, the commands (npx and from the packed
// tarball installed as a tool), and every command of the README's "First hour" section run as written, its output
// compared with the lines the README shows. Slow (an npm ci, a build, the demo, a pack and a global install).
import t from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from '../harness/services.js';
import { ROOT } from '../helpers/paths.js';

// npm ci, the build, the demo's 20 s, npm pack and a global install, on a shared two-core machine.
t.setTimeout(30 * 60_000);

/** The README's First hour section: every ```sh line and every `$ ` line of a ```console block, with what follows it. */
interface Step {
  command: string;
  /** Lines the README shows under a `$` command; undefined for ```sh commands (run, output not compared). */
  expected?: string[];
}

function firstHourSteps(readme: string): Step[] {
  const start = readme.indexOf('\n## First hour\n');
  if (start < 0) throw new Error('README.md: no "## First hour" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const steps: Step[] = [];
  for (const m of section.matchAll(/^```(sh|console)\n([\s\S]*?)^```$/gm)) {
    const lines = m[2]!.replace(/\n$/, '').split('\n');
    if (m[1] === 'sh') {
      for (const l of lines) if (l.trim() !== '' && !l.trim().startsWith('#')) steps.push({ command: l });
      continue;
    }
    for (const l of lines) {
      if (l.startsWith('$ ')) steps.push({ command: l.slice(2), expected: [] });
      else {
        const last = steps.at(-1);
        if (last?.expected === undefined) throw new Error(`README.md First hour: output line before any "$ " command: ${l}`);
        last.expected.push(l);
      }
    }
  }
  return steps;
}

/** Lines that differ from run to run by nature (timings) compare by their shape. */
function normalise(line: string): string {
  return line.replace(/^latency \d+ ms \(.*\)$/, 'latency N ms (...)');
}

/** The repository as a fresh clone has it: tracked and new (not ignored) files, without node_modules, dist or out. */
function copyRepo(to: string): number {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ls-files: ${r.stderr}`);
  let n = 0;
  for (const f of r.stdout.split('\0')) {
    if (!f || /^(node_modules|dist|out)\//.test(f)) continue;
    const src = join(ROOT, f);
    if (!existsSync(src) || !statSync(src).isFile()) continue; // deleted in the work tree, not yet in the index
    mkdirSync(dirname(join(to, f)), { recursive: true });
    copyFileSync(src, join(to, f));
    n++;
  }
  return n;
}

const work = tempDir('first-hour');
const clone = join(work, 'customs-edge');
const home = join(work, 'home');
// The copy holds a full node_modules and a global install: hundreds of MB that must not pile up in /tmp.
t.teardown(() => rmSync(work, { recursive: true, force: true }));
mkdirSync(home, { recursive: true });
const npmCache = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).stdout.trim();

/**
 * A newcomer's shell: their own HOME (so `~/.local` is a temporary prefix), its bin first on PATH, the machine's npm
 * cache, and nothing of the npm or tap process that runs this test (npm_* variables would steer the nested npm).
 */
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|TAP|LOG_|DEMO_|NODE_OPTIONS$)/i.test(k)));
Object.assign(env, {
  HOME: home,
  PATH: `${join(home, '.local', 'bin')}:${process.env.PATH ?? ''}`,
  npm_config_cache: npmCache,
  npm_config_prefer_offline: 'true',
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
});

function sh(command: string, timeoutMs: number, cwd = clone): SpawnSyncReturns<string> {
  return spawnSync('sh', ['-c', command], { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
}

const steps = firstHourSteps(readFileSync(join(ROOT, 'README.md'), 'utf8'));

t.test('the README First hour section has the steps this test relies on', async (t) => {
  const commands = steps.map((s) => s.command);
  t.ok(commands[0] === 'npm ci', `starts with npm ci: ${commands[0]}`);
  t.ok(commands.includes('npm start'), 'runs the demo');
  for (const what of ['rad identify', 'rad localize', 'xray inspect', 'customs-calib energy', 'check-config', 'npm install -g']) {
    t.ok(commands.some((c) => c.includes(what)), `has a "${what}" command`);
  }
  t.ok(steps.filter((s) => s.expected !== undefined).every((s) => s.expected!.length > 0), 'every $ command shows its output');
  t.ok(copyRepo(clone) > 100, 'the repository copied without node_modules and dist');
  t.notOk(existsSync(join(clone, 'node_modules')) || existsSync(join(clone, 'dist')), 'nothing built in the copy');
});

for (const step of steps) {
  t.test(`README: ${step.command}`, async (t) => {
    const slow = /^npm (ci|start)\b|npm install/.test(step.command);
    const r = sh(step.command, slow ? 600_000 : 120_000);
    t.equal(r.status, 0, 'exit status 0', { stdout: r.stdout.slice(-3000), stderr: r.stderr.slice(-3000) });
    if (step.expected !== undefined) {
      const got = r.stdout.replace(/\n$/, '').split('\n').map(normalise);
      t.same(got, step.expected.map(normalise), 'prints what the README shows');
    }
    if (step.command === 'npm ci') {
      const warnings = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^npm warn/i.test(l) && !/deprecated/i.test(l));
      t.same(warnings, [], 'no npm warning of this project\'s making (an unknown .npmrc setting, an install-script notice)');
      t.notMatch(r.stderr, /Unknown project config/);
      for (const bin of ['dist/edge/cli/main.js', 'dist/cloud/cli.js', 'dist/calibration/cli.js']) {
        const p = join(clone, bin);
        t.ok(existsSync(p) && (statSync(p).mode & 0o111) !== 0, `${bin} built and executable`);
        t.match(readFileSync(p, 'utf8'), /^#!\/usr\/bin\/env node\n/, `${bin} starts with a shebang`);
      }
    }
    if (step.command === 'npm start') {
      t.match(r.stdout, /LINK DOWN/, 'the link cut is shown');
      const progress = r.stdout.split('\n').filter((l) => /^\[\s*\d+ s\]/.test(l));
      t.ok(progress.length >= 10, `${progress.length} progress lines`);
      t.same(r.stdout.split('\n').filter((l) => l.trimStart().startsWith('{')), [], 'no JSON log line among the progress lines');
      t.same(r.stderr.split('\n').filter((l) => l.trimStart().startsWith('{')), [], 'no JSON log line on stderr either: they go to the file');
      const log = join(clone, 'out', 'demo.log');
      t.ok(existsSync(log), 'the log lines went to out/demo.log');
      const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
      t.ok(lines.length > 0 && lines.every((l) => typeof (JSON.parse(l) as { level?: unknown }).level === 'number'), `${lines.length} JSON log lines in the file`);
      t.ok(lines.some((l) => /disconnect|offline|reconnect|link/i.test(l)), 'the link cut is in the log, not on the terminal');
    }
    if (step.command === 'npm pack') {
      const tgz = readdirSync(clone).find((f) => /^customs-edge-.*\.tgz$/.test(f));
      t.ok(tgz, 'the tarball is written');
      const list = spawnSync('tar', ['-tzf', join(clone, tgz ?? 'none')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const f of ['package/dist/edge/cli/main.js', 'package/dist/cloud/cli.js', 'package/dist/calibration/cli.js', 'package/models/xray-atr/model.onnx', 'package/models/xray-atr/model-card.json', 'package/models/nuclide-classifier/model.onnx', 'package/models/camera-detector/model-card.json', 'package/cloud/grafana/provisioning/datasources/influxdb.yaml']) {
        t.ok(list.includes(f), `the tarball holds ${f}`);
      }
      const extra = list.filter((f) => /\.ts$|^package\/(test|bench|demo|examples|scripts|docs)\/|^package\/dist\/(test|bench|demo)\/|\/train\.py$|\.map$|tsbuildinfo/.test(f));
      t.same(extra, [], 'no sources, tests, bench data, training scripts or source maps in the tarball');
    }
  });
}

t.test('every command of the three runs from the temporary prefix, anywhere, with an example in its help', async (t) => {
  const bin = join(home, '.local', 'bin');
  const anywhere = tempDir('first-hour-cwd');
  for (const [cmd, usage] of [['customs-edge', /Usage: customs-edge/], ['customs-cloud', /Usage: customs-cloud/], ['customs-calib', /Usage: customs-calib/]] as const) {
    const r = sh(`${join(bin, cmd)} --help`, 60_000, anywhere);
    t.equal(r.status, 0, `${cmd} --help: ${r.stderr}`);
    t.match(r.stdout, usage);
  }
  const v = sh('customs-edge --version', 60_000, anywhere);
  t.match(v.stdout, /^\d+\.\d+\.\d+\n\nTry:\n {2}\$ customs-edge /, 'the version, then commands to start with');
  // The X-ray model, its card and the nuclide classifier come from the installed package, not from a repository.
  const x = sh(`customs-edge xray inspect "${join(clone, 'examples', 'data', 'scan_high.png')}" "${join(clone, 'examples', 'data', 'scan_low.png')}" --json`, 120_000, anywhere);
  t.equal(x.status, 4, `inspect decides to open the parcel: ${x.stderr}`);
  t.match(JSON.parse(x.stdout) as unknown, { decision: 'inspect', detections: [{ class: 'knife' }] });
  // Every subcommand's help ends with an example invocation.
  for (const [cmd, leaves] of [
    ['customs-edge', ['run', 'health', 'check-config', 'rad convert', 'rad dose', 'rad identify', 'rad alarm', 'rad localize', 'xray inspect', 'xray tip', 'xray verdict', 'camera scene', 'camera dataset', 'camera eval']],
    ['customs-cloud', ['run', 'check-config', 'provision', 'init-ca', 'server-cert', 'provision-aggregator']],
  ] as const) {
    for (const leaf of leaves) {
      const r = sh(`${cmd} ${leaf} --help`, 60_000, anywhere);
      t.match(r.stdout, new RegExp(`\\nExamples?:\\n {2}\\$ ${cmd} ${leaf} `), `${cmd} ${leaf} --help shows an example`);
    }
  }
});

t.test('logs: pretty levelled lines when asked, JSON lines by default off a terminal', async (t) => {
  const log = join(clone, 'dist', 'common', 'log.js');
  const script = (format: string) =>
    `import('${log}').then((m) => { ${format ? `m.configureLogging({ format: '${format}' }); ` : ''}m.logger('demo.ns').warn({ node: 'veh-01' }, 'link down'); })`;
  const pretty = spawnSync(process.execPath, ['-e', script('pretty')], { env, encoding: 'utf8' });
  t.match(pretty.stderr, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: demo\.ns: link down .*veh-01/m, `pretty: ${pretty.stderr}`);
  t.notMatch(pretty.stderr, /^\{/m);
  const json = spawnSync(process.execPath, ['-e', script('')], { env, encoding: 'utf8' });
  const line = JSON.parse(json.stderr.trim().split('\n')[0] ?? '') as { level: number; ns: string; msg: string };
  t.match(line, { level: 40, ns: 'demo.ns', msg: 'link down' }, 'stderr is a pipe here: JSON');
  const flag = sh('npx customs-edge --log-format xml rad identify examples/data/handheld-cs137.n42', 60_000);
  t.not(flag.status, 0);
  t.match(flag.stderr, /--log-format.*xml.*auto, pretty, json/, 'a wrong --log-format names the choices');
});
