// Small error classes with a code, so callers can branch on the code and users read what was wrong and where.

export class CustomsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config file failed validation; `problems` holds every `path: what was expected` line. */
export class ConfigError extends CustomsError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super('E_CONFIG', `${file}: invalid configuration\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

/** Input data (a file, a payload, a frame) is not what was expected; the message names where. */
export class InputError extends CustomsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_INPUT', message, options);
  }
}
