import { stateCollections } from '../../shared/app/stateCollections.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { settingNames } from '../../shared/app/config.js';
import {
  functionsByTrigger,
  installFunctionsCore,
  registeredFunctions,
} from '../../shared/runtime/functionRegistry.js';
import { repoRoot } from '../helpers/hostProcess.js';

/**
 * Every app setting the code reads must be declared where it will be needed: in the Bicep that
 * configures the deployed app, and in local.settings.sample.json for `func start`. A setting
 * added to the code and forgotten in either fails here, not in production.
 */
installFunctionsCore();
await import('../../functions/index.js');

const bicep = readFileSync(path.join(repoRoot, 'infra', 'main.bicep'), 'utf8');
const sample = (
  JSON.parse(readFileSync(path.join(repoRoot, 'local.settings.sample.json'), 'utf8')) as {
    Values: Record<string, string>;
  }
).Values;
const hostJson = readFileSync(path.join(repoRoot, 'host.json'), 'utf8');
const credentialsSource = readFileSync(
  path.join(repoRoot, 'shared', 'adapters', 'azure', 'credentials.ts'),
  'utf8',
);

/** `%NAME%` expressions in binding options and host.json. */
function percentSettings(): string[] {
  const found = new Set<string>();
  const scan = (text: string): void => {
    for (const m of text.matchAll(/%([A-Za-z0-9_]+)%/g)) if (m[1]) found.add(m[1]);
  };
  for (const fn of registeredFunctions()) scan(JSON.stringify(fn.trigger));
  scan(hostJson);
  return [...found];
}

/** Identity-based binding connections: `<connection>__...` settings. */
function bindingConnections(): string[] {
  const names = new Set<string>();
  for (const fn of registeredFunctions()) {
    const connection = fn.trigger.connection;
    if (typeof connection === 'string') names.add(connection);
  }
  return [...names];
}

const declaredInBicep = (name: string): boolean => new RegExp(`name: '${name}'`).test(bicep);

describe('infra/main.bicep creates every state collection as a Cosmos DB container', () => {
  it('lists exactly the collections of shared/app/stateCollections.ts', () => {
    const block = /var cosmosContainers = \[([^\]]*)\]/.exec(bicep)?.[1] ?? '';
    const declared = [...block.matchAll(/'([^']+)'/g)].map((m) => m[1]).sort();
    assert.deepEqual(declared, [...stateCollections].sort());
  });
});

describe('app settings are declared in infra/main.bicep and local.settings.sample.json', () => {
  const settings = [...new Set([...settingNames, ...percentSettings()])].sort();
  const envReads = [...credentialsSource.matchAll(/process\.env\.([A-Z_]+)/g)].map(
    (m) => m[1] ?? '',
  );

  it('finds the settings the code reads (the check itself is not vacuous)', () => {
    assert.ok(settings.includes('BATON_STATE'));
    assert.ok(settings.includes('BATON_JOB_WATCH_SCHEDULE'), 'timer schedule via %SETTING%');
    assert.ok(settings.includes('BATON_TASK_HUB'), 'host.json task hub');
    assert.ok(envReads.includes('AZURE_CLIENT_ID'));
    assert.ok(functionsByTrigger('serviceBusTrigger').length >= 2);
  });

  for (const name of [...settings, 'AZURE_CLIENT_ID']) {
    it(name, () => {
      assert.ok(declaredInBicep(name), `${name} is not set in infra/main.bicep`);
      assert.ok(name in sample, `${name} is not in local.settings.sample.json`);
    });
  }

  for (const connection of bindingConnections()) {
    it(`binding connection ${connection}`, () => {
      assert.ok(
        bicep.includes(`name: '${connection}__`),
        `no ${connection}__* setting in infra/main.bicep`,
      );
      assert.ok(
        Object.keys(sample).some((k) => k.startsWith(`${connection}__`)),
        `no ${connection}__* in local.settings.sample.json`,
      );
    });
  }

  it('Service Bus max delivery count in Bicep is the one the app reads', () => {
    assert.match(bicep, /maxDeliveryCount: maxDeliveryCount/);
    assert.match(bicep, /name: 'BATON_BUS_MAX_DELIVERY_COUNT', value: string\(maxDeliveryCount\)/);
  });
});

describe('Bicep compiles', () => {
  const cli = ['bicep', 'az'].find(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
  );
  it(
    'infra/main.bicep builds with the Bicep CLI',
    {
      skip: cli
        ? false
        : 'skipped: no Bicep CLI (bicep or az) on this machine; the template is checked only by the settings tests above',
    },
    () => {
      const args =
        cli === 'az'
          ? ['bicep', 'build', '--file', 'infra/main.bicep', '--stdout']
          : ['build', 'infra/main.bicep', '--stdout'];
      const result = spawnSync(cli ?? 'bicep', args, { cwd: repoRoot, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
    },
  );
});
