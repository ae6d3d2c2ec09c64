/**
 * Moves files between endpoints (beamline flows: spot832 → data832 → nersc832): Globus Transfer
 * in production, a checksummed copy between local folders on one machine. A transfer is
 * submitted, then followed until it ends; success means every file arrived with a verified
 * checksum — anything else is a failure with its reason, never treated as success.
 */
export interface TransferRequest {
  /** Idempotency key: submitting the same id twice starts one transfer. */
  transferId: string;
  source: { endpoint: string; path: string };
  destination: { endpoint: string; path: string };
  /** Recursive for a folder. */
  recursive?: boolean;
  label?: string;
}

export type TransferState = 'active' | 'succeeded' | 'failed' | 'canceled';

export interface TransferStatus {
  transferId: string;
  state: TransferState;
  files: number;
  bytes: number;
  /** ISO 8601 */
  startedAt?: string;
  finishedAt?: string;
  /** Checksums of every file were compared at the destination. */
  checksumVerified: boolean;
  /** Why it failed or was canceled (the service's words). */
  reason?: string;
}

export interface TransferService {
  submit(request: TransferRequest): Promise<TransferStatus>;
  /** `not_found` for an unknown transfer. */
  status(transferId: string): Promise<TransferStatus>;
  /** Idempotent. */
  cancel(transferId: string): Promise<TransferStatus>;
  /** Checksum (`<algorithm>:<hex>`) and size of a file at an endpoint; undefined when absent. */
  stat(endpoint: string, path: string): Promise<{ size: number; checksum: string } | undefined>;
  /**
   * Deletes one file at an endpoint (the verified beamline pruner's deletion, only after
   * `decidePrune` proved a surviving copy). Idempotent: false when the file was already gone.
   * A folder is refused (`validation`): retention entries name files.
   */
  remove(endpoint: string, path: string): Promise<boolean>;
}
