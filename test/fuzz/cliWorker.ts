import { parentPort } from 'node:worker_threads';
import { main } from '../../shared/cli/main.js';

/**
 * Runs `baton` invocations for the CLI fuzz test in a worker thread: the worker's stdout and
 * stderr are its own, so capturing them cannot swallow the test runner's messages, which
 * travel on the main thread's stdout.
 */
interface Request {
  id: number;
  argv: string[];
  timeoutMs: number;
}

parentPort?.postMessage('ready');
parentPort?.on('message', (request: Request) => {
  void run(request).then((outcome) => parentPort?.postMessage({ id: request.id, ...outcome }));
});

async function run(request: Request): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = (chunk: string | Uint8Array): boolean => {
    stdout += String(chunk);
    return true;
  };
  process.stderr.write = (chunk: string | Uint8Array): boolean => {
    stderr += String(chunk);
    return true;
  };
  process.exitCode = undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const code = await Promise.race([
      main(['node', 'baton', ...request.argv]),
      new Promise<number>((resolve) => {
        timer = setTimeout(() => resolve(-1), request.timeoutMs);
      }),
    ]);
    return { code, stdout, stderr };
  } catch (error) {
    return { code: -2, stdout, stderr: `${stderr}\nmain threw: ${String(error)}` };
  } finally {
    clearTimeout(timer);
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
  }
}
