import * as df from 'durable-functions';
import { DurableFunctionsClient } from '../../shared/adapters/durable/durableFunctionsClient.js';
import { appMetricFamilies, collectAppMetrics } from '../../shared/app/appMetrics.js';
import { jsonHandler } from '../../shared/app/httpResponses.js';
import { getServices } from '../../shared/app/services.js';
import { transferMetricFamilies } from '../../shared/app/transferMetrics.js';
import {
  transferRecordsCollection,
  type TransferRecord,
} from '../../shared/app/transferRecords.js';
import { parseBackendSlots } from '../../shared/domain/tasks.js';
import {
  exposition004ContentType,
  renderPrometheusText,
} from '../../shared/domain/prometheusText.js';

// Prometheus scrapes this; jsonHandler still turns a store failure into a JSON error reply,
// which the scraper records as a failed scrape (non-2xx) rather than as metrics. A durable
// client binding because runs by status need the orchestrations' statuses. The function keeps
// its first name (transferMetrics) so existing deployments and tests find it.
df.app.client.http('transferMetrics', {
  route: 'api/metrics',
  methods: ['GET'],
  handler: jsonHandler(async (_request, _client, context) => {
    const s = await getServices();
    const transfers = await s.state.query<TransferRecord>(transferRecordsCollection);
    const app = await collectAppMetrics({
      state: s.state,
      client: DurableFunctionsClient.fromContext(context),
      backends: parseBackendSlots(s.config.BATON_BACKEND_SLOTS),
      computeName: s.compute.name,
    });
    return {
      status: 200,
      headers: { 'content-type': exposition004ContentType },
      body: renderPrometheusText([
        ...transferMetricFamilies(transfers.map((d) => d.body)),
        ...appMetricFamilies(app),
      ]),
    };
  }),
});
