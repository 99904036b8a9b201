// Ajv errors as `path: what was expected` lines: the one error form of every validator in the project.
import type { ErrorObject } from 'ajv';

/**
 * Formats Ajv errors as `path: what was expected`, one per line, the form every validator in the project uses.
 * A union of literals (`anyOf` of `const`) becomes one "expected one of" line instead of one line per branch.
 */
export function formatErrors(errors: ErrorObject[] | null | undefined, root = ''): string[] {
  const list = errors ?? [];
  const anyOfs = list.filter((e) => e.keyword === 'anyOf');
  const consumed = new Set<ErrorObject>();
  const lines: string[] = [];
  for (const a of anyOfs) {
    const branches = list.filter((e) => e !== a && e.instancePath === a.instancePath && e.schemaPath.startsWith(`${a.schemaPath}/`));
    if (branches.length && branches.every((e) => e.keyword === 'const')) {
      for (const b of branches) consumed.add(b);
      consumed.add(a);
      const allowed = branches.map((b) => (b.params as { allowedValue?: unknown }).allowedValue);
      lines.push(`${root}${a.instancePath || '/'}: expected one of ${JSON.stringify(allowed)}`);
    }
  }
  for (const e of list) {
    if (consumed.has(e)) continue;
    const path = `${root}${e.instancePath || '/'}`;
    if (e.keyword === 'additionalProperties') {
      lines.push(`${path}: unexpected property "${(e.params as { additionalProperty: string }).additionalProperty}"`);
    } else if (e.keyword === 'enum' || e.keyword === 'const') {
      const p = e.params as { allowedValues?: unknown[]; allowedValue?: unknown };
      lines.push(`${path}: expected one of ${JSON.stringify(p.allowedValues ?? [p.allowedValue])}`);
    } else {
      lines.push(`${path}: ${e.message ?? 'invalid'}`);
    }
  }
  return lines;
}
