import { app } from '@azure/functions';
import { callerOf } from '../../shared/app/identity.js';

// Who the API takes the caller for: the portal shows it (`anonymous` when no one signed in).
app.http('me', {
  route: 'api/me',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (request) => ({ status: 200, jsonBody: { user: callerOf(request) } }),
});
