// The project's import graph, read with TypeScript's own pre-processor (static, dynamic and type-only imports and
// re-exports), for the layering test.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';

export interface ImportGraph {
  /** Repository-relative file → its imports: repository-relative files for relative specifiers, bare names otherwise. */
  edges: Map<string, string[]>;
}

const SKIP = new Set(['node_modules', 'dist', '.git']);

function sourceFiles(root: string, dir = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (SKIP.has(e.name) || e.name.startsWith('.')) continue;
    const rel = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(root, rel));
    else if (/\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

export function importGraph(root: string): ImportGraph {
  const edges = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    edges.set(
      file,
      info.importedFiles.map(({ fileName }) => (fileName.startsWith('.') ? normalize(join(dirname(file), fileName)).replace(/\.js$/, '.ts') : fileName)),
    );
  }
  return { edges };
}

/** The top-level folder of a repository-relative path. */
export const folderOf = (file: string): string => file.split('/')[0] ?? file;

/** Strongly connected components with more than one file (Tarjan), each an import cycle. */
export function cycles(g: ImportGraph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.edges.get(v) ?? []) {
      if (!g.edges.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of g.edges.keys()) if (!idx.has(v)) visit(v);
  return out;
}

export const relativeTo = (root: string, p: string): string => relative(root, p);
