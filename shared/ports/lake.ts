/**
 * A hierarchical file store: ADLS Gen2 in Azure, a folder locally. Paths are relative POSIX
 * paths (`runs/r1/out.csv`); anything escaping the root (`..`, absolute, backslashes, NUL) is a
 * `validation` error before any I/O.
 */
export interface LakeEntry {
  path: string;
  isDirectory: boolean;
  size: number;
  /** ISO 8601 */
  lastModified: string;
  /** Hex MD5 of the content, for files (may be absent when the store does not know it). */
  md5?: string;
}

export interface LakeWriteOptions {
  /** Fail with `conflict` when the path exists (outputs are never overwritten). */
  createOnly?: boolean;
  contentType?: string;
  /**
   * Hex MD5 of the content when the caller computed it already (a sync hashes to compare):
   * the folder lake then copies without hashing a second time. Trusted as given.
   */
  md5?: string;
  /**
   * Skip this file's own flush to disk: it is published atomically as always, and made
   * durable by the next `flush()` (a sync writes thousands of files, then flushes once).
   */
  deferDurability?: boolean;
}

export interface Lake {
  write(path: string, data: Uint8Array | string, options?: LakeWriteOptions): Promise<LakeEntry>;
  /** Copies a local file into the lake (streamed; large files are fine). */
  uploadFile(localPath: string, path: string, options?: LakeWriteOptions): Promise<LakeEntry>;
  /** `not_found` when absent. */
  read(path: string): Promise<Buffer>;
  /** Copies a lake file to a local path, written atomically (temp file then rename). */
  downloadFile(
    path: string,
    localPath: string,
    options?: { deferDurability?: boolean },
  ): Promise<LakeEntry>;
  /**
   * Makes every write this instance made with `deferDurability` durable (local files fsynced;
   * a cloud store's writes are durable when acknowledged). Call before relying on them.
   */
  flush(): Promise<void>;
  stat(path: string): Promise<LakeEntry | undefined>;
  /** Entries below `prefix` (a folder; '' is the root), sorted by path. */
  list(prefix: string, options?: { recursive?: boolean }): Promise<LakeEntry[]>;
  /** Returns false when nothing was there. A folder needs `recursive`. */
  delete(path: string, options?: { recursive?: boolean }): Promise<boolean>;
}
