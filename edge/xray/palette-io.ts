// The node's pseudo-colour palette: a built-in name or a palette file (written by `customs-calib xray palette`), validated and compiled once per file version.
import { readFile, stat } from 'node:fs/promises';
import { Ajv } from 'ajv';
import { CustomsError } from '../../common/errors.js';
import { formatErrors } from '../../protocol/index.js';
import { BUILTIN_PALETTES, builtinPalette, compilePalette, PaletteSchema, type CompiledPalette, type Palette } from '../../analysis/xray/palette.js';

export const DEFAULT_PALETTE = 'generic';

const validate = new Ajv({ allErrors: true, strict: false }).compile(PaletteSchema);

/** Compiled palettes by name or by file and modification time: compiling takes tens of milliseconds. */
const cache = new Map<string, { mtimeMs: number; compiled: CompiledPalette }>();

/** Reads and validates a palette file; errors name the file and each field with what was expected. */
export async function readPaletteFile(file: string): Promise<Palette> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CustomsError('E_XRAY_PALETTE', `palette ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); expected a built-in name (${Object.keys(BUILTIN_PALETTES).join(', ')}) or a palette file`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CustomsError('E_XRAY_PALETTE', `palette ${file}: not JSON (${(e as Error).message})`);
  }
  if (!validate(v)) throw new CustomsError('E_XRAY_PALETTE', `palette ${file}: not a palette (customs-xray-palette/1)\n  ${formatErrors(validate.errors).join('\n  ')}`);
  return v as Palette;
}

/** A built-in palette by name, else a palette file; compiled, cached until the file changes. */
export async function loadPalette(spec: string): Promise<CompiledPalette> {
  if (spec in BUILTIN_PALETTES) {
    const hit = cache.get(`builtin:${spec}`);
    if (hit !== undefined) return hit.compiled;
    const compiled = compilePalette(builtinPalette(spec));
    cache.set(`builtin:${spec}`, { mtimeMs: 0, compiled });
    return compiled;
  }
  let mtimeMs = 0;
  try {
    mtimeMs = (await stat(spec)).mtimeMs;
  } catch {
    // readPaletteFile names the problem.
  }
  const hit = cache.get(spec);
  if (hit !== undefined && hit.mtimeMs === mtimeMs) return hit.compiled;
  const p = await readPaletteFile(spec);
  let compiled: CompiledPalette;
  try {
    compiled = compilePalette(p);
  } catch (e) {
    throw new CustomsError('E_XRAY_PALETTE', `palette ${spec}: ${(e as Error).message}`, { cause: e });
  }
  cache.set(spec, { mtimeMs, compiled });
  return compiled;
}
