import type { HttpRequest } from '../runtime/functionsApi.js';

/**
 * Who is calling. In Azure, App Service Authentication puts the signed-in principal in
 * `x-ms-client-principal-name` (clients cannot forge it there: the platform strips it); the
 * local host, which binds to 127.0.0.1 only, passes the OS user or `--user` as `x-baton-user`.
 */
export function callerOf(request: HttpRequest): string {
  return (
    request.headers.get('x-ms-client-principal-name') ??
    request.headers.get('x-baton-user') ??
    'anonymous'
  );
}
