// Where the leave-one-detector-out bench finds the shared reference data (CUSTOMS_REFDATA, default ../shared/data beside the project).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** A folder of the reference data; throws naming the place looked at when it is missing. */
export function refDataDir(...parts: string[]): string {
  const dir = resolve(import.meta.dirname, '..', process.env.CUSTOMS_REFDATA ?? join('..', 'shared', 'data'), ...parts);
  if (!existsSync(dir)) throw new Error(`reference data folder ${dir} not found: set CUSTOMS_REFDATA to the shared data folder`);
  return dir;
}
