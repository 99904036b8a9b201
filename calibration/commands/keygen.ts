// customs-calib keygen: a technician's Ed25519 key pair; the public half goes into the nodes' trustedKeys.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../common/errors.js';
import { generateSigningKey } from '../../protocol/index.js';
import { keyIdOf } from '../../protocol/calibration-record.js';
import { examples, type CliContext } from './common.js';

interface KeygenCli {
  technician: string;
  out: string;
  json?: boolean;
}

export function registerKeygen(program: Command, ctx: CliContext): void {
  program
    .command('keygen')
    .description('make an Ed25519 key pair for a technician: <out>/<keyId>.key (private, mode 600) and <keyId>.pub (for the nodes\' trustedKeys)')
    .requiredOption('--technician <name>', 'the technician\'s name; the key id is derived from it')
    .option('--out <dir>', 'where to write the key files', 'keys')
    .option('--json', 'print JSON')
    .addHelpText('after', examples('keygen --technician "Ann Smith" --out keys        # keys/ann-smith.key and keys/ann-smith.pub'))
    .action((o: KeygenCli) => keygen(o, ctx));
}

function keygen(o: KeygenCli, ctx: CliContext): void {
  const keyId = keyIdOf(o.technician);
  const priv = join(o.out, `${keyId}.key`);
  const pub = join(o.out, `${keyId}.pub`);
  if (existsSync(priv)) throw new InputError(`${priv}: already exists; remove it first or choose another --out (a key is never overwritten)`);
  const k = generateSigningKey();
  mkdirSync(o.out, { recursive: true });
  writeFileSync(priv, k.privateKeyPem, { mode: 0o600 });
  // The mode given to writeFileSync is masked by the umask: make sure the private key is the owner's alone.
  chmodSync(priv, 0o600);
  writeFileSync(pub, k.publicKeyPem);
  ctx.print(!!o.json, { keyId, privateKey: priv, publicKey: pub }, () =>
    [`key id ${keyId}`, `private key ${priv} (keep it; mode 600)`, `public key  ${pub}`, '', 'node config:', `  - { name: calib, type: calibration, options: { trustedKeys: { ${keyId}: ${pub} }, dir: /var/lib/customs/calibration, detectors: [det-a] } }`].join('\n'),
  );
}
