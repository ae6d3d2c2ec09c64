import { z } from 'zod';
import { ownerPattern } from '../domain/datasets.js';
import { BatonError } from '../domain/errors.js';
import { normalizeLakePath } from '../domain/paths.js';
import type { Lake, LakeEntry } from '../ports/lake.js';

/**
 * Uploads through the API (`PUT /api/files/{path}`, `baton dataset register --upload`): each
 * user writes only below `users/<user>/` in the lake, and never over an existing file, so an
 * upload cannot replace someone's inputs or a task's outputs. Large data goes to the lake
 * directly (azcopy, Storage Explorer); the API's body limit is 10 MiB.
 */
export const userFilesRoot = (user: string): string => `users/${user}`;

const callerSchema = z.string().regex(ownerPattern);

export async function uploadUserFile(
  lake: Lake,
  caller: string,
  relativePath: string,
  bytes: Uint8Array,
): Promise<LakeEntry> {
  if (!callerSchema.safeParse(caller).success) {
    throw new BatonError(
      'forbidden',
      'uploads need a user name of lower-case letters, digits, _ or - (x-baton-user or sign-in)',
    );
  }
  const normalized = normalizeLakePath(relativePath, 'path');
  if (normalized === '') {
    throw new BatonError('validation', 'path: must name a file below your folder', {
      field: 'path',
    });
  }
  if (normalized.split('/').some((part) => part.startsWith('.'))) {
    throw new BatonError('validation', 'path: parts must not start with a dot', { field: 'path' });
  }
  const target = `${userFilesRoot(caller)}/${normalized}`;
  try {
    return await lake.write(target, bytes, { createOnly: true });
  } catch (error) {
    if (error instanceof BatonError && error.code === 'conflict') {
      throw new BatonError('conflict', `path: ${target} exists already (uploads never overwrite)`, {
        field: 'path',
      });
    }
    throw error;
  }
}
