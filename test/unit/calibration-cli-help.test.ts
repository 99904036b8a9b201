// customs-calib help: every subcommand shows an example of itself, and the program's help one per common task.
import t from 'tap';
import { runCli } from '../../calibration/cli.js';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const COMMANDS = ['keygen', 'energy', 'resolution', 'efficiency', 'dose-factor', 'background', 'check', 'xray flat-field', 'sign', 'push', 'history', 'diff', 'rollback'];

t.test('each subcommand --help ends with an example invocation of that subcommand', async (t) => {
  for (const c of COMMANDS) {
    const r = await cli([...c.split(' '), '--help']);
    t.equal(r.code, 0, `${c} --help exits 0`);
    const examples = r.out.slice(r.out.search(/\nExamples?:\n/));
    t.match(examples, new RegExp(`\\n  \\$ customs-calib ${c} \\S`), `${c} --help shows "$ customs-calib ${c} ..." after its options`);
  }
});

t.test('customs-calib --help lists an example for every subcommand', async (t) => {
  const r = await cli(['--help']);
  t.equal(r.code, 0);
  t.match(r.out, /Common tasks:/);
  for (const c of COMMANDS) t.match(r.out, new RegExp(`\\$ customs-calib ${c} \\S`), `an example of ${c}`);
  // The examples come after the command list, so the listing itself is unchanged.
  t.ok(r.out.indexOf('Commands:') < r.out.indexOf('Common tasks:'), 'after the command list');
});

t.test('without a command the help goes to stderr with exit 1, examples included', async (t) => {
  const r = await cli([]);
  t.equal(r.code, 1);
  t.equal(r.out, '');
  t.match(r.err, /Common tasks:[\s\S]*\$ customs-calib energy /);
});
