// ESLint: typescript-eslint's type-checked recommended rules on the service, its tests, migrations and
// benchmarks; the plain JavaScript recommended rules on the scripts and config files. `npm run lint`
// (and CI) fail on any finding.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'data/', 'logs/', 'test-artifacts/', 'vendure-plugin/', 'clients/', 'openapi/'] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  // The tracking page's script runs in the customer's browser, with Leaflet loaded before it.
  { files: ['src/tracking/page/**/*.js'], languageOptions: { globals: { ...globals.browser, L: 'readonly' } } },
  {
    files: ['**/*.ts', 'bench/**/*.mjs'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    // Tests and benchmarks read HTTP answers and database rows as JSON, typed `any` by supertest,
    // fetch and pg; their assertions check the values. Typing each one would add casts, not checks.
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
