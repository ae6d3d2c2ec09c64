/**
 * Documents with optimistic concurrency. Collections map to Cosmos DB containers; `pk` is the
 * partition key value. Every write returns the new etag; stale writes fail with
 * `precondition_failed`, duplicate creates with `conflict`, missing documents with `not_found`
 * (all as {@link BatonError}).
 */
export interface StoredDocument<T> {
  id: string;
  pk: string;
  etag: string;
  body: T;
}

export interface DocumentInput<T> {
  id: string;
  pk: string;
  body: T;
}

export type FieldValue = string | number | boolean | null;

export interface DocumentQuery {
  /** Restrict to one partition. */
  pk?: string;
  /** Equality on body fields; a key may be a dotted path (`owner.name`). */
  where?: Record<string, FieldValue | FieldValue[]>;
  /** Order by one body field (dotted path allowed). */
  orderBy?: { field: string; direction: 'asc' | 'desc' };
  limit?: number;
}

export interface StateStore {
  /** Creates a document; `conflict` if one with that id exists in that partition. */
  create<T>(collection: string, doc: DocumentInput<T>): Promise<StoredDocument<T>>;
  /** Returns undefined when the document does not exist. */
  read<T>(collection: string, pk: string, id: string): Promise<StoredDocument<T> | undefined>;
  /** Replaces only if the stored etag equals `ifMatch`: `precondition_failed` otherwise. */
  replace<T>(
    collection: string,
    doc: DocumentInput<T>,
    ifMatch: string,
  ): Promise<StoredDocument<T>>;
  /** Creates or overwrites without a concurrency check. */
  upsert<T>(collection: string, doc: DocumentInput<T>): Promise<StoredDocument<T>>;
  /** Deletes; `not_found` if absent, `precondition_failed` if `ifMatch` is stale. */
  delete(collection: string, pk: string, id: string, ifMatch?: string): Promise<void>;
  query<T>(collection: string, query?: DocumentQuery): Promise<StoredDocument<T>[]>;
}
