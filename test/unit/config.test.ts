import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { allAzureSettings } from '../helpers/azureSettings.js';
import fc from 'fast-check';
import { appSettingsOf, loadConfig } from '../../shared/app/config.js';
import { expectBatonError } from './batonErrorAssert.js';

function expectSettingError(env: Record<string, string>, setting: string): void {
  const e = expectBatonError(() => loadConfig(env));
  assert.equal(e.field, `setting.${setting}`);
  assert.ok(e.message.startsWith(`setting.${setting}: `), e.message);
  assert.ok(!e.message.includes('\n'), e.message);
}

describe('loadConfig: defaults', () => {
  it('an empty environment gives the local defaults', () => {
    const config = loadConfig({});
    assert.equal(config.BATON_STATE_DIR, '.baton');
    assert.equal(config.BATON_STATE, 'file');
    assert.equal(config.BATON_LAKE, 'folder');
    assert.equal(config.BATON_BUS, 'file');
    assert.equal(config.BATON_COMPUTE, 'local');
    assert.equal(config.BATON_BUS_MAX_DELIVERY_COUNT, 5);
    assert.equal(config.BATON_HEARTBEAT_SCHEDULE, '0 * * * * *');
    assert.equal(config.BATON_LANDING_PATH, 'landing');
  });

  it('treats empty strings as unset', () => {
    assert.deepEqual(
      loadConfig({ BATON_STATE: '', BATON_BUS_MAX_DELIVERY_COUNT: '', BATON_STATE_DIR: '' }),
      loadConfig({}),
    );
  });

  it('ignores variables it does not know', () => {
    assert.deepEqual(
      loadConfig({ PATH: '/usr/bin', HOME: '/root', BATON_UNKNOWN: 'x' }),
      loadConfig({}),
    );
  });
});

describe('loadConfig: values', () => {
  it('coerces numeric settings from text', () => {
    const config = loadConfig({
      BATON_BUS_MAX_DELIVERY_COUNT: '7',
      BATON_ACTIVITY_CONCURRENCY: '4',
    });
    assert.equal(config.BATON_BUS_MAX_DELIVERY_COUNT, 7);
    assert.equal(config.BATON_ACTIVITY_CONCURRENCY, 4);
  });

  it('accepts the bounds of BATON_BUS_MAX_DELIVERY_COUNT', () => {
    assert.equal(loadConfig({ BATON_BUS_MAX_DELIVERY_COUNT: '1' }).BATON_BUS_MAX_DELIVERY_COUNT, 1);
    assert.equal(
      loadConfig({ BATON_BUS_MAX_DELIVERY_COUNT: '100' }).BATON_BUS_MAX_DELIVERY_COUNT,
      100,
    );
  });

  it('resolves stateDir to an absolute path', () => {
    const relative = loadConfig({ BATON_STATE_DIR: 'var/state' });
    assert.equal(relative.BATON_STATE_DIR, 'var/state');
    assert.ok(path.isAbsolute(relative.stateDir));
    assert.equal(relative.stateDir, path.resolve(process.cwd(), 'var/state'));
    assert.equal(loadConfig({}).stateDir, path.resolve(process.cwd(), '.baton'));
    const absolute = path.join(os.tmpdir(), 'baton-state');
    assert.equal(loadConfig({ BATON_STATE_DIR: absolute }).stateDir, absolute);
  });
});

describe('loadConfig: malformed settings fail with their name', () => {
  const cases: Array<[string, string]> = [
    ['BATON_BUS_MAX_DELIVERY_COUNT', 'abc'],
    ['BATON_BUS_MAX_DELIVERY_COUNT', '0'],
    ['BATON_BUS_MAX_DELIVERY_COUNT', '101'],
    ['BATON_BUS_MAX_DELIVERY_COUNT', '2.5'],
    ['BATON_ACTIVITY_CONCURRENCY', 'many'],
    ['BATON_ACTIVITY_CONCURRENCY', '0'],
    ['BATON_STATE', 'mongodb'],
    ['BATON_LAKE', 's3'],
    ['BATON_BUS', 'kafka'],
    ['BATON_COMPUTE', 'k8s'],
    ['BATON_COSMOS_ENDPOINT', 'not a url'],
    ['BATON_LAKE_FILESYSTEM', 'Bad_Name'],
    ['BATON_ACI_SUBSCRIPTION_ID', 'not-a-guid'],
    ['BATON_TRACKER', 'wandb'],
    ['BATON_MLFLOW_URL', 'ftp://mlflow'],
    ['BATON_MLFLOW_TOKEN_ENV', 'NOT-A-NAME'],
  ];
  for (const [setting, value] of cases) {
    it(`${setting}=${value}`, () => expectSettingError({ [setting]: value }, setting));
  }

  it('names the bad setting even when valid ones surround it', () => {
    expectSettingError(
      { BATON_STATE: 'file', BATON_LAKE: 'nope', BATON_BUS: 'file' },
      'BATON_LAKE',
    );
  });
});

describe('loadConfig: an Azure adapter without its settings fails at start-up', () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ BATON_STATE: 'cosmos' }, 'BATON_COSMOS_ENDPOINT'],
    [{ BATON_LAKE: 'adls' }, 'BATON_LAKE_ACCOUNT_URL'],
    [{ BATON_BUS: 'servicebus' }, 'BATON_SERVICEBUS_NAMESPACE'],
    [{ BATON_COMPUTE: 'aci' }, 'BATON_ACI_SUBSCRIPTION_ID'],
    [{ BATON_TRACKER: 'mlflow' }, 'BATON_MLFLOW_URL'],
    [
      { BATON_COMPUTE: 'aci', BATON_ACI_SUBSCRIPTION_ID: '00000000-0000-4000-8000-000000000000' },
      'BATON_ACI_RESOURCE_GROUP',
    ],
  ];
  for (const [env, missing] of cases) {
    it(`${JSON.stringify(env)} names ${missing}`, () => expectSettingError(env, missing));
  }

  it('accepts a complete Azure configuration', () => {
    const config = loadConfig({ ...allAzureSettings });
    assert.equal(config.BATON_STATE, 'cosmos');
    assert.equal(config.BATON_LAKE_FILESYSTEM, 'lake');
    assert.equal(config.BATON_COSMOS_DATABASE, 'baton');
  });
});

describe('appSettingsOf', () => {
  it('lists every setting as text, defaults filled in', () => {
    const settings = appSettingsOf(loadConfig({}));
    assert.equal(settings.BATON_STATE, 'file');
    assert.equal(settings.BATON_BUS_MAX_DELIVERY_COUNT, '5');
    assert.equal(settings.BATON_HEARTBEAT_SCHEDULE, '0 * * * * *');
    assert.equal(settings.BATON_STATE_DIR, '.baton');
    for (const [key, value] of Object.entries(settings)) {
      assert.match(key, /^BATON_[A-Z_]+$/);
      assert.equal(typeof value, 'string', key);
    }
    assert.equal('stateDir' in settings, false);
  });

  it('reflects values from the environment', () => {
    const settings = appSettingsOf(
      loadConfig({ BATON_BUS_MAX_DELIVERY_COUNT: '9', BATON_LANDING_PATH: 'in/box' }),
    );
    assert.equal(settings.BATON_BUS_MAX_DELIVERY_COUNT, '9');
    assert.equal(settings.BATON_LANDING_PATH, 'in/box');
  });

  it('property: loading the settings it produces gives the same config back', () => {
    const env = fc.record(
      {
        BATON_STATE_DIR: fc.stringMatching(/^[a-z.][a-z0-9./_-]{0,20}$/),
        BATON_BUS_MAX_DELIVERY_COUNT: fc.integer({ min: 1, max: 100 }).map(String),
        BATON_HEARTBEAT_SCHEDULE: fc.constantFrom('0 * * * * *', '*/10 * * * * *', '0 0 9 * * 1-5'),
        BATON_LANDING_PATH: fc.stringMatching(/^[a-z][a-z0-9/_-]{0,20}$/),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(env, (vars) => {
        const config = loadConfig(vars);
        assert.deepEqual(loadConfig(appSettingsOf(config)), config);
      }),
      { numRuns: 200 },
    );
  });
});
