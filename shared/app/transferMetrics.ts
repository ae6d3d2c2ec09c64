import {
  histogramOf,
  renderPrometheusText,
  type MetricFamily,
  type MetricLabels,
} from '../domain/prometheusText.js';
import type { StateStore } from '../ports/stateStore.js';
import { transferRecordsCollection, type TransferRecord } from './transferRecords.js';

/**
 * Beamline transfer metrics for Prometheus, computed from the transfer records on each scrape.
 * Counters are totals over the records kept, so they only grow while records are kept; bytes,
 * files, durations and rates count succeeded transfers only, since a failed transfer's partial
 * figures say nothing about the link's throughput.
 */

/** Upper bounds of the duration histogram: sub-second test files up to hour-long datasets. */
export const transferDurationBucketsSeconds = [0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600] as const;

export function transferMetricFamilies(records: readonly TransferRecord[]): MetricFamily[] {
  const succeeded = records.filter((r) => r.state === 'succeeded');
  return [
    {
      name: 'baton_transfers_total',
      help: 'Beamline transfers that ended, by result (the final transfer state).',
      type: 'counter',
      samples: sumsBy(
        records,
        (r) => ({ ...flowLabels(r), result: r.state }),
        () => 1,
      ),
    },
    {
      name: 'baton_transfer_bytes_total',
      help: 'Bytes moved by succeeded beamline transfers.',
      type: 'counter',
      samples: sumsBy(succeeded, flowLabels, (r) => r.bytes),
    },
    {
      name: 'baton_transfer_files_total',
      help: 'Files moved by succeeded beamline transfers.',
      type: 'counter',
      samples: sumsBy(succeeded, flowLabels, (r) => r.files),
    },
    {
      name: 'baton_transfer_duration_seconds',
      help: 'How long succeeded beamline transfers took.',
      type: 'histogram',
      samples: groupBy(succeeded, hopLabels).map(({ labels, members }) => ({
        labels,
        ...histogramOf(
          transferDurationBucketsSeconds,
          members.map((r) => r.durationMs / 1000),
        ),
      })),
    },
    {
      name: 'baton_transfer_last_rate_bytes_per_second',
      help: 'Rate of the most recent succeeded beamline transfer (by end time) per hop.',
      type: 'gauge',
      samples: groupBy(succeeded, hopLabels).map(({ labels, members }) => ({
        labels,
        value: latestEnded(members).rate,
      })),
    },
  ];
}

/** The exposition text of every transfer record in the store (all runs, all partitions). */
export async function renderTransferMetrics(state: StateStore): Promise<string> {
  const docs = await state.query<TransferRecord>(transferRecordsCollection);
  return renderPrometheusText(transferMetricFamilies(docs.map((d) => d.body)));
}

function flowLabels(r: TransferRecord): MetricLabels {
  return { beamline: r.beamline, flow: r.flow, from: r.from, to: r.to };
}

/** Duration and rate are properties of the link, whichever flow used it. */
function hopLabels(r: TransferRecord): MetricLabels {
  return { beamline: r.beamline, from: r.from, to: r.to };
}

function sumsBy(
  records: readonly TransferRecord[],
  labelsOf: (r: TransferRecord) => MetricLabels,
  amountOf: (r: TransferRecord) => number,
): Array<{ labels: MetricLabels; value: number }> {
  return groupBy(records, labelsOf).map(({ labels, members }) => ({
    labels,
    value: members.reduce((total, r) => total + amountOf(r), 0),
  }));
}

/** Records grouped by their label set, in first-seen order (the renderer sorts). */
function groupBy(
  records: readonly TransferRecord[],
  labelsOf: (r: TransferRecord) => MetricLabels,
): Array<{ labels: MetricLabels; members: TransferRecord[] }> {
  const groups = new Map<string, { labels: MetricLabels; members: TransferRecord[] }>();
  for (const record of records) {
    const labels = labelsOf(record);
    const key = JSON.stringify(Object.entries(labels));
    const group = groups.get(key) ?? { labels, members: [] };
    group.members.push(record);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/**
 * The record that ended last. endedAt is compared as a time, not as text, so differing offsets
 * or precisions still order right (an unreadable one counts as oldest); ties go to the greater
 * transfer id so the pick does not depend on the order the store returns documents in.
 * `records` is never empty (one group's members).
 */
function latestEnded(records: readonly TransferRecord[]): TransferRecord {
  return records.reduce((latest, r) => {
    const [mine, theirs] = [endedAtMs(r), endedAtMs(latest)];
    return mine > theirs || (mine === theirs && r.transferId > latest.transferId) ? r : latest;
  });
}

function endedAtMs(record: TransferRecord): number {
  const ms = Date.parse(record.endedAt);
  return Number.isNaN(ms) ? -Infinity : ms;
}
