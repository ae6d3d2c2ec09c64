import { app } from '@azure/functions';
import { jsonHandler } from '../../shared/app/httpResponses.js';
import { getServices } from '../../shared/app/services.js';
import { renderTransferMetrics } from '../../shared/app/transferMetrics.js';
import { exposition004ContentType } from '../../shared/domain/prometheusText.js';

// Prometheus scrapes this; jsonHandler still turns a store failure into a JSON error reply,
// which the scraper records as a failed scrape (non-2xx) rather than as metrics.
app.http('transferMetrics', {
  route: 'api/metrics',
  methods: ['GET'],
  handler: jsonHandler(async () => ({
    status: 200,
    headers: { 'content-type': exposition004ContentType },
    body: await renderTransferMetrics((await getServices()).state),
  })),
});
