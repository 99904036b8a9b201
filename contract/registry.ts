// The lazy component registry: type names to loaders of each component's factory and option schema. The layers above
// fill it (devices/index.ts registers the drivers, edge/pipelines/index.ts the pipelines), so this layer names no
// driver and no pipeline.
import type { Static, TSchema } from '@sinclair/typebox';
import { ConfigError, CustomsError } from '../common/errors.js';
import type { Component, ComponentFactory, ComponentSpec } from './component.js';
import { parseDeviceOptions } from './options.js';

export type ComponentKind = 'device' | 'pipeline';

/** A detector id a pipeline reads, with the options field that names it (for `pipelines/<name>/options/<field>`). */
export interface DetectorRef {
  field: string;
  id: string;
}

/**
 * What a component module gives the registry: the factory, the schema of its `options` (so a config can be checked
 * without starting anything) and, where it has any, the detector ids it puts on the reading bus or reads from it (so a
 * pipeline naming a detector no device provides is caught before the node runs).
 */
export interface ComponentModule {
  create: ComponentFactory;
  optionsSchema: TSchema;
  /**
   * Devices: detector ids whose spectra this component publishes, or 'unknown' when only its data says (an N42
   * folder); absent means none. Called only with options that passed `optionsSchema`, defaults filled.
   */
  providesDetectors?(options: unknown): readonly string[] | 'unknown';
  /** Pipelines: detector ids this component reads. Called only with validated options, defaults filled. */
  readsDetectors?(options: unknown): DetectorRef[];
}

/**
 * Builds a ComponentModule whose detector callbacks see the options typed by the schema; the cast is safe because
 * the registry calls them only with options that passed that very schema.
 */
export function componentModule<S extends TSchema>(m: {
  create: ComponentFactory;
  optionsSchema: S;
  providesDetectors?: (options: Static<S>) => readonly string[] | 'unknown';
  readsDetectors?: (options: Static<S>) => DetectorRef[];
}): ComponentModule {
  return m as ComponentModule;
}

/** A config names a type nobody registered, or registered under the other kind; the message lists the valid ones. */
export class UnknownComponentTypeError extends CustomsError {
  constructor(message: string) {
    super('E_UNKNOWN_TYPE', message);
  }
}

/** Lazy registry: each type maps to a loader so that a node imports only the modules of the types its config names. */
const registry = new Map<string, { kind: ComponentKind; load: () => Promise<ComponentModule> }>();

/** Registers (or replaces) a type; calling it again with the same loader is harmless. */
export function registerComponent(type: string, kind: ComponentKind, load: () => Promise<ComponentModule>): void {
  registry.set(type, { kind, load });
}

/** Registered types, sorted; only those of one kind when `kind` is given. */
export function componentTypes(kind?: ComponentKind): string[] {
  return [...registry].filter(([, e]) => kind === undefined || e.kind === kind).map(([type]) => type).sort();
}

/** The kind a type was registered as, or undefined for an unknown type. */
export function componentKind(type: string): ComponentKind | undefined {
  return registry.get(type)?.kind;
}

/** Imports the module of one type (only now); an unknown type throws UnknownComponentTypeError listing the valid ones. */
export async function loadComponent(type: string): Promise<ComponentModule> {
  const entry = registry.get(type);
  if (!entry) throw new UnknownComponentTypeError(`unknown type "${type}", expected one of ${componentTypes().join(', ')}`);
  return entry.load();
}

export async function createComponent(spec: ComponentSpec): Promise<Component> {
  if (!registry.has(spec.type)) {
    throw new UnknownComponentTypeError(`component "${spec.name}": unknown type "${spec.type}", expected one of ${componentTypes().join(', ')}`);
  }
  return (await loadComponent(spec.type)).create(spec);
}

/** The outcome of checking one `devices[]` or `pipelines[]` entry. */
export interface ComponentCheck {
  /** `path: what was expected` lines, paths `<list>/<name>/...`; empty when the entry is good. */
  problems: string[];
  /** The module and its validated options (defaults filled), when type and options are good. */
  module?: ComponentModule;
  options?: unknown;
}

/**
 * Checks one entry without starting it: the type is registered under the kind of its list, the options pass the
 * component's schema (every problem listed), and the factory accepts them (its cross-field rules, such as two
 * parts on one pin). Factories only keep their options (contract/component.ts), so building one here is harmless.
 */
export async function checkComponent(spec: ComponentSpec, list: 'devices' | 'pipelines'): Promise<ComponentCheck> {
  const root = `${list}/${spec.name}`;
  const want: ComponentKind = list === 'devices' ? 'device' : 'pipeline';
  const kind = componentKind(spec.type);
  if (kind === undefined) {
    return { problems: [`${root}/type: unknown type "${spec.type}", expected one of ${componentTypes(want).join(', ')}`] };
  }
  if (kind !== want) {
    return { problems: [`${root}/type: "${spec.type}" is a ${kind}, expected a ${want} type: one of ${componentTypes(want).join(', ')}`] };
  }
  let module: ComponentModule;
  try {
    module = await loadComponent(spec.type);
  } catch (e) {
    return { problems: [`${root}/type: the "${spec.type}" module does not load (${(e as Error).message.split('\n')[0]})`] };
  }
  let options: unknown;
  try {
    options = parseDeviceOptions(module.optionsSchema, spec, list);
  } catch (e) {
    if (e instanceof ConfigError) return { problems: e.problems };
    throw e;
  }
  try {
    module.create(spec);
  } catch (e) {
    if (e instanceof ConfigError) return { problems: e.problems };
    // Factories name the field in their message (`pipelines/<name>/options/...`) or say only what is wrong.
    const msg = (e as Error).message;
    return { problems: [/^(devices|pipelines)\//.test(msg) ? msg : `${root}/options: ${msg}`] };
  }
  return { problems: [], module, options };
}
