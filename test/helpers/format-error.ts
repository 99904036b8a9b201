// The FormatError a reader throws, for tests that assert what it names; anything else thrown (or nothing) fails.
import { FormatError } from '../../analysis/radiation/formats/index.js';

export function formatError(fn: () => unknown): FormatError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  }
  throw new Error('expected a FormatError, nothing was thrown');
}
