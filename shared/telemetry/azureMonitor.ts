import { azureCredential } from '../adapters/azure/credentials.js';
import { enableOtelLogs } from './runLog.js';

/**
 * In Azure: Application Insights through `@azure/monitor-opentelemetry`, started when the
 * Functions host loads the app and `APPLICATIONINSIGHTS_CONNECTION_STRING` is set (infra sets
 * it, with Entra ID authentication through the app's managed identity). It registers the
 * global tracer and logger providers: Baton's job and transfer spans join their run's trace
 * (trace id derived from the run id), and `runLog` lines become traces whose custom
 * dimensions carry runId, step and jobId. Loaded lazily: the local host never pays for it.
 */
export async function startAzureMonitor(env: Record<string, string | undefined>): Promise<boolean> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (connectionString === undefined || connectionString === '') return false;
  const { useAzureMonitor } = await import('@azure/monitor-opentelemetry');
  const aad = (env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '').includes('Authorization=AAD');
  useAzureMonitor({
    azureMonitorExporterOptions: {
      connectionString,
      ...(aad ? { credential: azureCredential() } : {}),
    },
  });
  enableOtelLogs();
  return true;
}
