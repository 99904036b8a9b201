// Where the tests find the project and the reference data: one place, no absolute paths.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root (this file is test/helpers/paths.ts). */
export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The `customs-edge` command's source entry point, run through tsx. */
export const EDGE_CLI = join(ROOT, 'edge', 'cli', 'main.ts');

/**
 * A file of the shared reference data (real files from other tools): `CUSTOMS_REFDATA`, default `../shared/data`
 * beside the project. A test that needs it and does not find it fails with this one line, never with an ENOENT
 * from deep inside a reader.
 */
export function refData(...parts: string[]): string {
  const dir = resolve(ROOT, process.env.CUSTOMS_REFDATA ?? join('..', 'shared', 'data'));
  if (!existsSync(dir)) {
    throw new Error(`reference data not found at ${dir}: set CUSTOMS_REFDATA to the folder holding n42/, spe/ and drf/ (default ../shared/data beside the project)`);
  }
  const file = join(dir, ...parts);
  if (!existsSync(file)) throw new Error(`reference data file ${file} not found: is CUSTOMS_REFDATA (${dir}) the shared data folder?`);
  return file;
}
