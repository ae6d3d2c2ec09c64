import { app } from '@azure/functions';
import { jsonHandler } from '../../shared/app/httpResponses.js';
import { callerOf } from '../../shared/app/identity.js';
import { getServices } from '../../shared/app/services.js';
import { uploadUserFile } from '../../shared/app/userFiles.js';

app.http('uploadUserFile', {
  route: 'api/files/{*path}',
  methods: ['PUT'],
  handler: jsonHandler(async (request) => {
    const bytes = new Uint8Array(await request.arrayBuffer());
    const entry = await uploadUserFile(
      (await getServices()).lake,
      callerOf(request),
      request.params.path ?? '',
      bytes,
    );
    return { status: 201, jsonBody: { path: entry.path, size: entry.size } };
  }),
});
