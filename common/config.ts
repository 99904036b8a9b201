// Loads a YAML or JSON config file and validates it against a TypeBox schema, reporting every problem at once.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError } from './errors.js';
import { formatErrors } from './validation.js';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, useDefaults: true });

/** Parses text as YAML (a superset of JSON); syntax errors name the line and column. */
export function parseConfigText(file: string, text: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const pos = e.linePos?.[0];
      const what = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw new ConfigError(file, [`${pos ? `line ${pos.line}, column ${pos.col}` : '/'}: ${what}`]);
    }
    throw e;
  }
}

/** Validates (filling schema defaults) and returns the typed value, or throws ConfigError with every problem. */
export function validateConfig<S extends TSchema>(file: string, schema: S, value: unknown): Static<S> {
  const v = ajv.compile(schema);
  if (!v(value)) throw new ConfigError(file, formatErrors(v.errors));
  return value as Static<S>;
}

export function loadConfigFile<S extends TSchema>(file: string, schema: S): Static<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`/: cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
  return validateConfig(file, schema, parseConfigText(file, text));
}
