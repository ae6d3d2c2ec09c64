import * as df from 'durable-functions';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { collectAppMetrics, collectSlotInputs, slotUseOf } from '../../shared/app/appMetrics.js';
import { getServices } from '../../shared/app/services.js';
import { recordSlotSample } from '../../shared/app/slotHistory.js';
import { parseBackendSlots } from '../../shared/domain/tasks.js';
import {
  otelMetricsActive,
  recordRunsByStatus,
  recordSlotUse,
} from '../../shared/telemetry/metrics.js';

// Slot use over time for the slots page (a bounded history in the store), and the OTel gauges
// of slot use and, when a meter provider listens, runs by status.
df.app.client.timer('sampleSlots', {
  schedule: '%BATON_SLOT_SAMPLE_SCHEDULE%',
  handler: async (_timer, _client, context) => {
    const s = await getServices();
    const deps = {
      state: s.state,
      backends: parseBackendSlots(s.config.BATON_BACKEND_SLOTS),
      computeName: s.compute.name,
    };
    const otel = otelMetricsActive();
    const input = otel
      ? await collectAppMetrics({ ...deps, client: DurableFunctionsClient.fromContext(context) })
      : { runs: [], ...(await collectSlotInputs(deps)) };
    const slots = slotUseOf(input);
    await recordSlotSample({ state: s.state, clock: s.clock }, slots);
    if (otel) {
      recordSlotUse(slots);
      recordRunsByStatus(input.runs);
    }
  },
});
