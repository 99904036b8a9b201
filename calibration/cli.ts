#!/usr/bin/env node
// customs-calib: the technician's calibration CLI; builds the program from calibration/commands/ and runs it.
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../common/version.js';
import { createContext, type Io } from './commands/common.js';
import { registerKeygen } from './commands/keygen.js';
import { registerEnergy } from './commands/energy.js';
import { registerResolution } from './commands/resolution.js';
import { registerEfficiency } from './commands/efficiency.js';
import { registerDoseFactor } from './commands/dose-factor.js';
import { registerBackground } from './commands/background.js';
import { registerCheck } from './commands/check.js';
import { registerXray } from './commands/xray-flat-field.js';
import { registerXrayPalette } from './commands/xray-palette.js';
import { registerSign } from './commands/sign.js';
import { registerPush } from './commands/push.js';
import { registerHistory } from './commands/history.js';
import { registerDiff } from './commands/diff.js';
import { registerRollback } from './commands/rollback.js';

export type { Io } from './commands/common.js';
export type { AnalysisFile } from './commands/spectrum.js';
export { diffRecords } from './commands/diff.js';

/** One example per common task, in the order a calibration goes: [what for, arguments]. */
const TASKS: [string, string][] = [
  ['a technician key (once; the .pub goes into the nodes\' trustedKeys)', 'keygen --technician "Ann Smith" --out keys'],
  ['energy calibration from a check-source spectrum', 'energy check.n42 --source Am241 --source Cs137 --source Co60 --detector det-a --plot fit.png --out energy.json'],
  ['resolution from the same spectrum', 'resolution check.n42 --source Am241 --source Cs137 --source Co60 --detector det-a --out res.json'],
  ['efficiency with a certified source', 'efficiency cs137.n42 --source Cs137 --activity-Bq 370000 --reference-date 2016-03-01 --distance-m 0.25 --calibration energy.json --out eff.json'],
  ['dose factor in a reference field', 'dose-factor field.n42 --reference-uSv-h 0.093 --model NaI-3x3 --calibration energy.json --out dose.json'],
  ['background spectrum from a live node', 'background --node veh-07 --site port-a --detector det-a --duration 120 --key keys/ann-smith.key --out bg'],
  ['X-ray flat field', 'xray flat-field darks/ opens/ --detector xray-high --out refs/'],
  ['sign the results as version 1 of the detector', 'sign energy.json res.json eff.json --key keys/ann-smith.key --record-version 1 --out det-a-v1.json'],
  ['push the record to a node (exit 1 if refused)', 'push det-a-v1.json --node veh-07 --site port-a'],
  ['daily source check (exit 1 on FAIL)', 'check daily.n42 --record det-a-v1.json --source Cs137 --source Co60'],
  ['what changed between two records', 'diff det-a-v1.json det-a-v2.json'],
  ['what was pushed to a node and what it runs', 'history --node veh-07 --site port-a'],
  ['return a node to version 1', 'rollback --node veh-07 --site port-a --to 1 --key keys/ann-smith.key'],
];

const TASK_HELP = `\nCommon tasks:\n${TASKS.map(([what, args]) => `  # ${what}\n  $ customs-calib ${args}`).join('\n')}\n\nEach command's --help shows more examples.`;

/** The program; `state.code` is the exit code of a command that ran to the end (1 when a check failed or a push was refused). */
export function createProgram(io: Io, state: { code: number }): Command {
  const program = new Command();
  program
    .name('customs-calib')
    .description(
      'Calibration of the fleet\'s radiation detectors by a technician: energy, resolution, efficiency and dose factors from ' +
        'check-source spectra, daily source checks, X-ray flat fields. Results go into versioned records signed with the ' +
        'technician\'s Ed25519 key and pushed to nodes over MQTT, which accept only keys their config trusts.',
    )
    .version(packageVersion())
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .addHelpText('after', TASK_HELP);
  // Subcommands copy exitOverride and configureOutput when created: register them after configuring the program,
  // in the order --help lists them.
  const ctx = createContext(io, state);
  for (const register of [registerKeygen, registerEnergy, registerResolution, registerEfficiency, registerDoseFactor, registerBackground, registerCheck, registerXray, registerXrayPalette, registerSign, registerPush, registerHistory, registerDiff, registerRollback]) {
    register(program, ctx);
  }
  return program;
}

/** Runs the CLI with `args` (without node and script); resolves to the exit code. */
export async function runCli(args: string[], io: Io): Promise<number> {
  const state = { code: 0 };
  const program = createProgram(io, state);
  try {
    await program.parseAsync(args, { from: 'user' });
    return state.code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    io.err(`customs-calib: ${(e as Error).message}\n`);
    return 1;
  }
}

// Through an npm bin link argv[1] is the link, so compare real paths.
const isMain = (() => {
  try {
    return process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(resolve(process.argv[1]))).href;
  } catch {
    return false;
  }
})();
if (isMain) {
  const io: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };
  runCli(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`customs-calib: ${(e as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
