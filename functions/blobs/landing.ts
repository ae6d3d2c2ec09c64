import { describeValue } from '../../shared/domain/describe.js';
import { app } from '@azure/functions';
import { recordLandedFile } from '../../shared/app/landing.js';
import { getServices } from '../../shared/app/services.js';

app.storageBlob('registerLandedFile', {
  path: '%BATON_LANDING_PATH%/{name}',
  connection: 'LakeConnection',
  handler: async (blob, context) => {
    const s = await getServices();
    const path =
      typeof context.triggerMetadata?.blobTrigger === 'string'
        ? context.triggerMetadata.blobTrigger
        : describeValue(context.triggerMetadata?.name ?? '');
    const content = Buffer.isBuffer(blob) ? blob : Buffer.from(String(blob));
    const file = await recordLandedFile({ state: s.state, clock: s.clock }, path, content);
    context.log(`landed ${file.path} (${file.size} bytes, md5 ${file.md5})`);
  },
});
