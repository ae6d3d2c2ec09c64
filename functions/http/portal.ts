import { app } from '@azure/functions';
import { portalAssetReply, portalPageReply } from '../../shared/portal/portalReplies.js';

// The portal: host.json's routePrefix is "" and every API route says `api/` itself, so this
// app serves the portal at its site root in Azure as `baton up` does locally, while every
// `/api/...` URL stays what it was. The root route takes one optional segment only, so it can
// never shadow a multi-segment route (the API, the host's /admin and /runtime/webhooks).

app.http('portalPage', {
  route: '{page?}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (request) => portalPageReply(request.params.page),
});

app.http('portalAsset', {
  route: 'portal/{*path}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (request) => portalAssetReply(request.params.path ?? ''),
});
