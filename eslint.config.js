// `npm run lint` (run by scripts/test.sh after the type check): correctness rules only, ESLint's and
// typescript-eslint's recommended sets. No formatting rules: the code's layout is not linted here.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'completions/', 'man/', 'test/.cache/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // cake matches NUL, ESC and other control bytes on purpose (tar names, ANSI sequences, hostile input)
      'no-control-regex': 'off',
      // `_name` marks a parameter or binding kept for its position (a handler's signature, a skipped tuple slot)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
      // a binding that a closure reads before its one assignment (a server's handler and the server itself)
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
);
