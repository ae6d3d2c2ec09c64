import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { repoRoot } from '../helpers/hostProcess.js';

/**
 * The determinism lint must catch each way an orchestrator can break replay, and the project
 * configuration must apply it to every file under shared/orchestrations.
 */
const { orchestratorDeterminismRules } = (await import(
  path.join(repoRoot, 'eslint.determinism.js')
)) as {
  orchestratorDeterminismRules: Record<string, unknown>;
};

async function lint(code: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: repoRoot,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        rules: orchestratorDeterminismRules as never,
      },
    ],
  });
  const [result] = await eslint.lintText(code, {
    filePath: path.join(repoRoot, 'shared/orchestrations/fixture.ts'),
  });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('orchestrator determinism lint', () => {
  const violations: Array<[string, RegExp]> = [
    ['export const f = () => Date.now();', /no-restricted-globals.*currentUtcDateTime/],
    ['export const f = () => new Date();', /no-restricted-globals/],
    ['export const f = () => Math.random();', /no-restricted-properties/],
    ['export const f = () => globalThis.Date.now();', /no-restricted-globals.*globalThis/],
    ['export const f = () => setTimeout(() => 0, 5);', /no-restricted-globals.*createTimer/],
    ['export const f = () => process.env.HOME;', /no-restricted-globals.*environment/],
    ['export const f = () => fetch("http://x");', /no-restricted-globals.*activity/],
    [
      "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;",
      /no-restricted-imports/,
    ],
    ["import fs from 'fs';\nexport const f = fs;", /no-restricted-imports/],
    [
      "import { CosmosClient } from '@azure/cosmos';\nexport const f = CosmosClient;",
      /no-restricted-imports/,
    ],
    [
      "import { services } from '../app/services.js';\nexport const f = services;",
      /no-restricted-imports/,
    ],
  ];
  for (const [code, expected] of violations) {
    it(`rejects: ${code.split('\n').pop() ?? code}`, async () => {
      const messages = await lint(code);
      assert.ok(
        messages.some((m) => expected.test(m)),
        messages.join('\n') || 'no messages',
      );
    });
  }

  it('accepts an orchestrator that uses only the context', async () => {
    const code = `import type { OrchestrationContext } from 'durable-functions';
export function* ok(context: OrchestrationContext) {
  const now = context.df.currentUtcDateTime;
  yield context.df.createTimer(now);
  return context.df.newGuid('x');
}`;
    const messages = await lint(code);
    assert.deepEqual(messages, []);
  });

  it('is applied by the project config to shared/orchestrations', async () => {
    const eslint = new ESLint({ cwd: repoRoot });
    const config = (await eslint.calculateConfigForFile(
      path.join(repoRoot, 'shared/orchestrations/hello.ts'),
    )) as { rules: Record<string, unknown> };
    for (const rule of Object.keys(orchestratorDeterminismRules))
      assert.ok(config.rules[rule], `${rule} not applied`);
    const other = (await eslint.calculateConfigForFile(
      path.join(repoRoot, 'shared/app/runs.ts'),
    )) as { rules: Record<string, unknown> };
    assert.equal(other.rules['no-restricted-properties'], undefined);
  });
});
