import { catalogueCollection } from '../adapters/local/stateStoreCatalogue.js';
import { trackerCollections } from '../adapters/local/stateStoreTracker.js';
import { taskJobsCollection, tasksCollection } from '../domain/tasks.js';
import { beamlineRetentionCollection } from './beamline.js';
import { hpcJobsCollection } from './beamlineHpc.js';
import { beamlinePruneAuditCollection } from './beamlinePrune.js';
import { modelRunLocksCollection } from './databanks.js';
import { datasetsCollection } from './datasets.js';
import { systemCollection } from './heartbeat.js';
import { jobsCollection } from './jobs.js';
import { landedFilesCollection } from './landing.js';
import { modelOutputsCollection } from './modelOutputs.js';
import { modelStatesCollection } from './modelRun.js';
import { retentionCollection } from './retention.js';
import { runsCollection } from './runs.js';
import { slotHistoryCollection } from './slotHistory.js';
import { leaseCollection } from './taskScheduler.js';
import { transferRecordsCollection } from './transferRecords.js';

/**
 * Every state-store collection the app writes: in Azure each is a Cosmos DB container, which
 * infra/main.bicep must create (a test compares the two lists, so a new collection cannot be
 * forgotten there) and the Azure test world creates on the emulator.
 */
export const stateCollections: readonly string[] = [
  runsCollection,
  jobsCollection,
  systemCollection,
  landedFilesCollection,
  datasetsCollection,
  tasksCollection,
  taskJobsCollection,
  leaseCollection,
  retentionCollection,
  modelStatesCollection,
  modelRunLocksCollection,
  ...Object.values(trackerCollections),
  catalogueCollection,
  beamlineRetentionCollection,
  beamlinePruneAuditCollection,
  transferRecordsCollection,
  hpcJobsCollection,
  modelOutputsCollection,
  slotHistoryCollection,
];
