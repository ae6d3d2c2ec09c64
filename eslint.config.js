// ESLint flat config: typescript-eslint's recommended type-checked rules for all code, plus a
// determinism rule set for orchestrators (they replay, so they must not touch the clock,
// randomness, timers, the file system, the environment or the network).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { orchestratorDeterminismRules } from './eslint.determinism.js';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.baton/**',
      '.scratch/**',
      'coverage/**',
      '**/*.mjs',
      'bin/**',
      'eslint.config.js',
      'eslint.determinism.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/only-throw-error': 'error',
    },
  },
  { files: ['shared/orchestrations/**/*.ts'], rules: orchestratorDeterminismRules },
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
