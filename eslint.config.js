// ESLint flat config: type-aware correctness rules only (floating promises, exhaustive switches, promise misuse).
// Why so few rules: the code base follows STYLE.md by review; the linter is here to catch the bugs a reviewer misses,
// not to restyle code. Each rule below finds a real defect class (unhandled rejection, missed union member, ...).
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['dist/**', 'node_modules/**', '.tap/**', 'models/**', 'docs/**', 'out/**', 'tmp/**', '**/*.py'],
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: {
        // Why projectService: the rules need the checker, and it reads the same tsconfig.json as `tsc --noEmit`.
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // Why: tap's t.test() promise (PromiseWithSubtest) only ever resolves; a failing or throwing subtest is
          // reported in the TAP output, never as a rejection, and tap queues subtests itself, so not awaiting it
          // loses nothing. Only that type is exempt: any other promise in a test still has to be handled.
          allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // Why considerDefaultExhaustiveForUnions off: a `default:` hides a union member added later; switches over
      // unions list every case or end in a `never` default.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: false, requireDefaultForNonUnion: false },
      ],
      // Correctness rules (most from recommended-type-checked) that flag defects, never style.
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/no-implied-eval': 'error',
      '@typescript-eslint/no-array-delete': 'error',
      '@typescript-eslint/no-base-to-string': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      '@typescript-eslint/restrict-plus-operands': 'error',
      '@typescript-eslint/no-unsafe-unary-minus': 'error',
      '@typescript-eslint/no-misused-spread': 'error',
      // Why: a bare .sort() on numbers sorts them as strings (10 before 9); string arrays may keep the default.
      '@typescript-eslint/require-array-sort-compare': ['error', { ignoreStringArrays: true }],
    },
  },
);
