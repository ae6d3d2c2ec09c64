import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  beamlineRetentionCollection,
  type BeamlineRetentionEntry,
} from '../../shared/app/beamline.js';
import {
  beamlinePruneAuditCollection,
  beamlinePruneDepsOf,
  pruneBeamline,
  type BeamlinePruneItem,
  type BeamlinePruneReport,
} from '../../shared/app/beamlinePrune.js';
import type { PruneAuditRecord } from '../../shared/domain/beamline/pruneSafety.js';
import type { BeamlineDispatchOutput } from '../../shared/orchestrations/beamlineTypes.js';
import type { StoredDocument } from '../../shared/ports/stateStore.js';
import { LocalHost } from '../../shared/runtime/localHost.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { repoRoot, runCli, runToEnd } from '../helpers/hostProcess.js';
import { asUser } from '../helpers/localAuth.js';

/**
 * The verified beamline pruner after real new-file flows on a local host: a due spot832 copy
 * with a same-checksum copy elsewhere is deleted with an audit naming the survivor; copies that
 * cannot be proven to survive (gone, different, off-site only for export-controlled data) are
 * refused with the reason, kept, and alerted; a dry run changes nothing. The clock is advanced
 * by passing `now` to the use case, and by moving entries' due dates for the HTTP and CLI paths.
 */
interface RunView {
  runId: string;
  status: string;
  error?: string;
  output: BeamlineDispatchOutput | null;
}

const exampleConfig = path.join(repoRoot, 'examples', 'beamline', 'beamline.yaml');
const endpointNames = ['spot832', 'data832', 'nersc832', 'alcf832'];
const day = 24 * 3600 * 1000;

describe('verified beamline pruner after the new-file flow', () => {
  let sources: string;
  let stateDir: string;
  let host: LocalHost;
  let flowsAt: number;
  const warnings: string[] = [];
  const endpointFile = (endpoint: string, relative: string): string =>
    endpoint === 'spot832'
      ? path.join(stateDir, 'lake', 'landing', 'bl832', ...relative.split('/'))
      : path.join(sources, 'endpoints', endpoint, ...relative.split('/'));
  const sha256 = (data: string): string =>
    `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const deps = () => beamlinePruneDepsOf(host.services, (m) => warnings.push(m));
  const prune = (daysLater: number, dryRun = false): Promise<BeamlinePruneReport> =>
    pruneBeamline(deps(), {
      config: 'beamline.yaml',
      dryRun,
      now: new Date(flowsAt + daysLater * day),
    });
  const itemOf = (
    report: BeamlinePruneReport,
    endpoint: string,
    file: string,
  ): BeamlinePruneItem => {
    const item = report.entries.find((e) => e.endpoint === endpoint && e.path === file);
    assert.ok(item, `no report entry for ${file} at ${endpoint}`);
    return item;
  };
  const entryDocs = (): Promise<Array<StoredDocument<BeamlineRetentionEntry>>> =>
    host.services.state.query<BeamlineRetentionEntry>(beamlineRetentionCollection, {});
  const entryOf = async (endpoint: string, file: string): Promise<BeamlineRetentionEntry> => {
    const doc = (await entryDocs()).find(
      (d) => d.body.endpoint === endpoint && d.body.path === file,
    );
    assert.ok(doc, `no retention entry for ${file} at ${endpoint}`);
    return doc.body;
  };
  const audits = async (): Promise<PruneAuditRecord[]> =>
    (await host.services.state.query<PruneAuditRecord>(beamlinePruneAuditCollection, {})).map(
      (d) => d.body,
    );

  async function flow(file: string, content: string, exportControlled = false): Promise<void> {
    const local = endpointFile('spot832', file);
    await mkdir(path.dirname(local), { recursive: true });
    await writeFile(local, content);
    const view = await runToEnd<RunView>(
      host.url,
      {
        pipeline: 'beamline',
        params: {
          config: 'beamline.yaml',
          path: `landing/bl832/${file}`,
          // The reconstruction's own retention is covered by the landing end-to-end test.
          overrides: { nersc: false },
          ...(exportControlled ? { exportControlled: true } : {}),
        },
      },
      30_000,
    );
    assert.equal(view.status, 'completed', view.error);
  }

  before(async () => {
    sources = await mkdtemp(path.join(os.tmpdir(), 'baton-prune-src-'));
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'baton-prune-'));
    await cp(exampleConfig, path.join(sources, 'beamline.yaml'));
    for (const name of endpointNames) {
      await mkdir(path.join(sources, 'endpoints', name), { recursive: true });
    }
    host = await LocalHost.start({
      stateDir,
      port: 0,
      logger: createLogger({ level: 'silent' }),
      env: { BATON_MODEL_SOURCES_ROOT: sources },
    });
    flowsAt = Date.now();
    // 1: copies at data832 and nersc832 survive it.
    await flow('scan_0001.h5', 'scan one\n'.repeat(100));
    // 2: its other copies are removed after the flow.
    await flow('scan_0002.h5', 'scan two\n'.repeat(100));
    await rm(endpointFile('data832', 'scan_0002.h5'));
    await rm(endpointFile('nersc832', 'scan_0002.h5'));
    // 3: its other copies differ (data832 overwritten) or are gone (nersc832).
    await flow('scan_0003.h5', 'scan three\n'.repeat(100));
    await writeFile(endpointFile('data832', 'scan_0003.h5'), 'something else');
    await rm(endpointFile('nersc832', 'scan_0003.h5'));
    // 4: export-controlled, kept on-site at data832.
    await flow('scan_0004_ec.h5', 'controlled four', true);
    // 5: export-controlled whose only other copy is off-site (which should not exist).
    await flow('scan_0005_ec.h5', 'controlled five', true);
    await rm(endpointFile('data832', 'scan_0005_ec.h5'));
    await writeFile(endpointFile('nersc832', 'scan_0005_ec.h5'), 'controlled five');
  });
  after(async () => {
    await host.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    await rm(sources, { recursive: true, force: true });
  });

  it('a dry run says what would happen and why, and changes nothing', async () => {
    const before = (await entryDocs()).map((d) => d.body);
    assert.equal((await prune(3, true)).due, 0, 'nothing is due before 7 days');
    const report = await prune(8, true);
    assert.equal(report.dryRun, true);
    assert.equal(report.due, 5, 'the five spot832 copies (data832 keeps copies 180 days)');
    const one = itemOf(report, 'spot832', 'scan_0001.h5');
    assert.equal(one.outcome, 'would-delete');
    assert.deepEqual(one.survivor, {
      endpoint: 'nersc832',
      path: 'scan_0001.h5',
      checksum: sha256('scan one\n'.repeat(100)),
    });
    assert.equal(itemOf(report, 'spot832', 'scan_0002.h5').refusal?.code, 'no_other_copy');
    assert.equal(itemOf(report, 'spot832', 'scan_0003.h5').refusal?.code, 'checksum_mismatch');
    assert.equal(itemOf(report, 'spot832', 'scan_0004_ec.h5').survivor?.endpoint, 'data832');
    assert.equal(itemOf(report, 'spot832', 'scan_0005_ec.h5').refusal?.code, 'offsite_only');
    for (const file of ['scan_0001.h5', 'scan_0002.h5', 'scan_0004_ec.h5']) {
      assert.ok(existsSync(endpointFile('spot832', file)), `${file} still at spot832`);
    }
    assert.deepEqual(
      (await entryDocs()).map((d) => d.body),
      before,
    );
    assert.deepEqual(await audits(), []);
    assert.deepEqual(warnings, []);
  });

  it('deletes a copy that survives elsewhere (audit names the survivor), refuses and keeps the rest', async () => {
    const report = await prune(8);
    assert.equal(report.dryRun, false);
    assert.deepEqual(
      [report.due, report.deleted, report.refused, report.gone, report.failed],
      [5, 2, 3, 0, 0],
    );

    assert.equal(existsSync(endpointFile('spot832', 'scan_0001.h5')), false);
    assert.ok(existsSync(endpointFile('data832', 'scan_0001.h5')));
    assert.ok(existsSync(endpointFile('nersc832', 'scan_0001.h5')));
    const one = await entryOf('spot832', 'scan_0001.h5');
    assert.equal(one.state, 'pruned');
    assert.equal(one.audit?.action, 'deleted');
    assert.equal(one.audit?.who, 'baton-pruner');
    assert.equal(one.audit?.checksum, sha256('scan one\n'.repeat(100)));
    assert.deepEqual(one.audit?.survivor, {
      endpoint: 'nersc832',
      path: 'scan_0001.h5',
      checksum: sha256('scan one\n'.repeat(100)),
    });

    // Export-controlled: the on-site data832 copy is the survivor.
    assert.equal(existsSync(endpointFile('spot832', 'scan_0004_ec.h5')), false);
    const four = await entryOf('spot832', 'scan_0004_ec.h5');
    assert.equal(four.state, 'pruned');
    assert.equal(four.audit?.survivor?.endpoint, 'data832');
    assert.equal(four.audit?.exportControlled, true);

    for (const [file, code, why] of [
      ['scan_0002.h5', 'no_other_copy', /no copy at another endpoint/],
      ['scan_0003.h5', 'checksum_mismatch', /data832 have a different checksum/],
      [
        'scan_0005_ec.h5',
        'offsite_only',
        /export-controlled: the only surviving copies are off-site \(nersc832\)/,
      ],
    ] as const) {
      assert.ok(existsSync(endpointFile('spot832', file)), `${file} kept`);
      const entry = await entryOf('spot832', file);
      assert.equal(entry.state, 'refused');
      assert.equal(entry.audit?.refusal?.code, code);
      assert.match(entry.audit?.refusal?.reason ?? '', why);
      assert.match(itemOf(report, 'spot832', file).reason, why);
      assert.ok(
        warnings.some((w) => w.includes(`refused to prune ${file} at spot832`) && why.test(w)),
        `alert for ${file}`,
      );
    }
    const log = await audits();
    assert.deepEqual(log.map((a) => a.action).sort(), [
      'deleted',
      'deleted',
      'refused',
      'refused',
      'refused',
    ]);
  });

  it('tries refused entries again in the next pass and does not touch pruned ones', async () => {
    const report = await prune(9);
    assert.equal(report.due, 3);
    assert.equal(report.refused, 3);
    assert.equal((await entryOf('spot832', 'scan_0002.h5')).attempts, 2);
  });

  it('later, prunes data832 against the home (nersc832); two due copies never vouch for each other', async () => {
    // scan_0002: restore data832 only; its spot832 and data832 entries are both due at 181 days.
    await writeFile(endpointFile('data832', 'scan_0002.h5'), 'scan two\n'.repeat(100));
    const report = await prune(181);
    const dataOne = itemOf(report, 'data832', 'scan_0001.h5');
    assert.equal(dataOne.outcome, 'deleted');
    assert.equal(dataOne.survivor?.endpoint, 'nersc832');
    assert.equal(existsSync(endpointFile('data832', 'scan_0001.h5')), false);
    assert.ok(existsSync(endpointFile('nersc832', 'scan_0001.h5')), 'the home is never pruned');
    for (const endpoint of ['spot832', 'data832']) {
      const item = itemOf(report, endpoint, 'scan_0002.h5');
      assert.equal(item.outcome, 'refused');
      assert.equal(item.refusal?.code, 'survivor_due');
      assert.ok(existsSync(endpointFile(endpoint, 'scan_0002.h5')));
    }
  });

  it('over HTTP and the CLI: dry run for anyone, a real prune for a signed-in user named in the audit', async () => {
    // scan_0003: make data832 match again and move its spot832 entry's due date into the past.
    await writeFile(endpointFile('data832', 'scan_0003.h5'), 'scan three\n'.repeat(100));
    const docs = await entryDocs();
    for (const doc of docs) {
      if (doc.body.path !== 'scan_0003.h5' || doc.body.endpoint !== 'spot832') continue;
      await host.services.state.replace(
        beamlineRetentionCollection,
        {
          id: doc.id,
          pk: doc.pk,
          body: { ...doc.body, dueAt: new Date(Date.now() - day).toISOString() },
        },
        doc.etag,
      );
    }
    const config = path.join(sources, 'beamline.yaml');
    const post = (body: unknown, user?: string): Promise<Response> =>
      fetch(`${host.url}/api/beamline/prune`, {
        method: 'POST',
        headers: user === undefined ? { 'content-type': 'application/json' } : asUser(user),
        body: JSON.stringify(body),
      });

    const cli = await runCli([
      '--json',
      '--endpoint',
      host.url,
      'prune',
      '--beamline',
      config,
      '--dry-run',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    const preview = JSON.parse(cli.stdout) as BeamlinePruneReport;
    assert.deepEqual(
      preview.entries.map((e) => [e.endpoint, e.path, e.outcome, e.survivor?.endpoint]),
      [['spot832', 'scan_0003.h5', 'would-delete', 'data832']],
    );
    const neither = await runCli(['--endpoint', host.url, 'prune', '--beamline', config]);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /--dry-run or --now/);

    // No one signed in: the local host refuses any POST (401) before the app's own 403.
    assert.equal((await post({ config, dryRun: false })).status, 401);
    assert.equal((await post({ config: 'no/such.yaml', dryRun: true }, 'alice')).status, 404);
    const response = await post({ config, dryRun: false }, 'alice');
    assert.equal(response.status, 200);
    const report = (await response.json()) as BeamlinePruneReport;
    assert.equal(itemOf(report, 'spot832', 'scan_0003.h5').outcome, 'deleted');
    assert.equal(existsSync(endpointFile('spot832', 'scan_0003.h5')), false);
    const entry = await entryOf('spot832', 'scan_0003.h5');
    assert.equal(entry.audit?.who, 'alice');
    assert.equal(entry.audit?.survivor?.endpoint, 'data832');
  });
});
