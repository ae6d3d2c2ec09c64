// ESLint flat config: typescript-eslint's recommended type-checked rules for all code, plus a
// determinism rule set for orchestrators (they replay, so they must not touch the clock,
// randomness, timers, the file system, the environment or the network).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const forbiddenInOrchestrators = {
  'no-restricted-globals': [
    'error',
    { name: 'Date', message: 'Orchestrators replay: use context.df.currentUtcDateTime.' },
    { name: 'setTimeout', message: 'Orchestrators replay: use context.df.createTimer.' },
    { name: 'setInterval', message: 'Orchestrators replay: use context.df.createTimer.' },
    { name: 'setImmediate', message: 'Orchestrators must not schedule work outside the context.' },
    { name: 'fetch', message: 'Orchestrators must not do I/O: call an activity.' },
    { name: 'process', message: 'Orchestrators must not read the environment: pass it in the input.' },
    { name: 'performance', message: 'Orchestrators replay: no clocks.' },
    { name: 'crypto', message: 'Orchestrators replay: use context.df.newGuid.' },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Math', property: 'random', message: 'Orchestrators replay: use context.df.newGuid or pass randomness in the input.' },
  ],
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        { group: ['node:*', 'fs', 'fs/*', 'path', 'os', 'http', 'https', 'net', 'dgram', 'child_process', 'crypto', 'timers', 'timers/*'], message: 'Orchestrators must not do I/O: call an activity.' },
        { group: ['@azure/*', 'axios', 'undici', 'node-fetch'], message: 'Orchestrators must not do network I/O: call an activity.' },
        { group: ['**/adapters/**', '**/app/services*'], message: 'Orchestrators must not reach ports: call an activity.' },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.baton/**', '.scratch/**', 'coverage/**', '**/*.mjs', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/only-throw-error': 'error',
    },
  },
  { files: ['shared/orchestrations/**/*.ts'], rules: forbiddenInOrchestrators },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
);
