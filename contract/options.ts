// Validation of a device's `options` against its TypeBox schema, with errors naming devices/<name>/options/<field>.
import type { Static, TSchema, TUnsafe } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigError } from '../common/errors.js';
import { formatErrors } from '../protocol/index.js';
import type { ComponentSpec } from './component.js';

const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true });
const compiled = new WeakMap<TSchema, ValidateFunction>();

/** An `enum` rather than a union of literals, so a wrong value reads "expected one of [...]" on one line. */
export function stringEnum<T extends string>(values: readonly T[], opts: { default?: NoInfer<T>; description?: string } = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...opts });
}

/** Same for numbers (baud rates). */
export function numberEnum<T extends number>(values: readonly T[], opts: { default?: NoInfer<T>; description?: string } = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'number', enum: [...values], ...opts });
}

function problems(root: string, errors: ErrorObject[] | null | undefined): string[] {
  // Name the offending or missing field itself, not the object that holds it.
  return (errors ?? []).map((e) => {
    if (e.keyword === 'additionalProperties') {
      return `${root}${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}: unexpected property`;
    }
    if (e.keyword === 'required') return `${root}${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}: required`;
    return formatErrors([e], root)[0] ?? `${root}: invalid`;
  });
}

/** Validates `spec.options` (defaults filled in) or throws ConfigError listing every `devices/<name>/options/...` problem. */
export function parseDeviceOptions<S extends TSchema>(schema: S, spec: ComponentSpec, root: 'devices' | 'pipelines' = 'devices'): Static<S> {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  const value: unknown = structuredClone(spec.options ?? {});
  if (!validate(value)) {
    throw new ConfigError(`component "${spec.name}" (${spec.type})`, problems(`${root}/${spec.name}/options`, validate.errors));
  }
  return value as Static<S>;
}

/** A check across fields that a schema cannot express, reported the same way. */
export function optionError(spec: ComponentSpec, field: string, message: string): ConfigError {
  return new ConfigError(`component "${spec.name}" (${spec.type})`, [`devices/${spec.name}/options/${field}: ${message}`]);
}
