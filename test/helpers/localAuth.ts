import { randomBytes } from 'node:crypto';

/**
 * Tests talk to their local hosts as the CLI does: with the host secret as a bearer token. One
 * secret for the whole test process, put in its environment on import so that in-process hosts,
 * `baton up` children and `runCli` children all share it.
 */
export const testSecret = (process.env.BATON_LOCAL_SECRET ??=
  randomBytes(32).toString('base64url'));

/** Headers that make a request `user`'s (JSON body). */
export function asUser(user: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    authorization: `Bearer ${testSecret}`,
    'x-baton-user': user,
  };
}
