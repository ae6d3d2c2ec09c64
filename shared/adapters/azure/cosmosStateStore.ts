import {
  CosmosClient,
  PartitionKeyDefinitionVersion,
  type Container,
  type CosmosClientOptions,
  type JSONValue,
  type SqlParameter,
  type SqlQuerySpec,
} from '@azure/cosmos';
import type { TokenCredential } from '@azure/identity';
import { BatonError, isBatonError } from '../../domain/errors.js';
import type {
  DocumentInput,
  DocumentQuery,
  FieldValue,
  StateStore,
  StoredDocument,
} from '../../ports/stateStore.js';
import { callAzure } from './azureErrors.js';

/** How many times, and how far apart, a Cosmos DB call is retried (see {@link callAzure}). */
export interface CosmosRetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}
import { azureCredential } from './credentials.js';

/** The partition key path of every Baton container (the Bicep declares the same). */
export const cosmosPartitionKeyPath = '/pk';

export interface CosmosStateStoreOptions {
  client: CosmosClient;
  databaseId: string;
  /** Container id for a collection; the collection name itself by default. */
  containerFor?: (collection: string) => string;
  /** Retry of throttled and transient failures; `callAzure`'s defaults otherwise. */
  retry?: CosmosRetryOptions;
  /** Page size used while draining a query (`maxItemCount`). */
  pageSize?: number;
  /** {@link CosmosStateStore.dispose} also disposes `client` (set when the store created it). */
  ownsClient?: boolean;
}

/**
 * The item as stored in Cosmos DB. The port's id travels twice: `id` is its encoding (see
 * {@link encodeCosmosId}), `docId` the original, so queries and people read the real id without
 * decoding. The body sits under `body`, so user fields can never collide with `id`, `pk` or the
 * system properties (`_etag`, `_ts`, …).
 */
export interface CosmosDocumentItem {
  id: string;
  pk: string;
  docId: string;
  body?: unknown;
}

/**
 * The StateStore on Azure Cosmos DB (NoSQL API): one container per collection, partition key
 * `/pk`.
 *
 * - **Partition key.** Baton's `pk` is the value every access path already knows (a run's
 *   pipeline, a job's run), so point reads and the common queries stay inside one logical
 *   partition, and optimistic concurrency (which Cosmos scopes to an item in a partition) needs
 *   no cross-partition coordination. The same id may therefore exist once per partition, which
 *   is exactly the port's contract.
 * - **Ids.** Cosmos ids may not contain `/ \ ? #` and are length-limited, while the port allows
 *   any string; ids are stored base64url-encoded ({@link encodeCosmosId}), the original in
 *   `docId`.
 * - **Etags.** The port's etag is Cosmos' `_etag`, passed back verbatim as an `IfMatch` access
 *   condition, so the check-and-write is atomic in the service: a stale etag is a 412 →
 *   `precondition_failed`, a duplicate create a 409 → `conflict`.
 * - **Missing collections.** A collection whose container does not exist reads as empty (read →
 *   undefined, query → [], replace/delete → `not_found`), as the port requires; writing into one
 *   is a deployment fault (`internal`): containers are provisioned by the Bicep, or by
 *   {@link ensureCosmosContainers} in tests and on a first start.
 * - **Retries.** Every call goes through `callAzure` (429/5xx/network retried, honouring
 *   `x-ms-retry-after-ms`). A write retried after an ambiguous failure (a timeout or a 503 after
 *   the service applied it) can surface as `conflict` or `precondition_failed`; callers already
 *   re-read on those codes, which the etag protocol requires anyway.
 * - **Query order.** Without `orderBy` the order is the service's (unspecified). With it, ties
 *   keep the service's order too: a secondary sort would need a composite index per field.
 *   Documents lacking the orderBy field sort first in the local store; the emulator leaves them
 *   out, and Cosmos includes or drops them depending on the indexing policy (unverified), so
 *   callers that need them should not rely on orderBy over an optional field.
 */
export class CosmosStateStore implements StateStore {
  private readonly client: CosmosClient;
  private readonly databaseId: string;
  private readonly containerFor: (collection: string) => string;
  private readonly retry: CosmosRetryOptions;
  private readonly pageSize: number;
  private readonly ownsClient: boolean;
  private readonly containers = new Map<string, Container>();

  constructor(options: CosmosStateStoreOptions) {
    this.client = options.client;
    this.databaseId = options.databaseId;
    this.containerFor = options.containerFor ?? ((collection) => collection);
    this.retry = options.retry ?? {};
    this.pageSize = options.pageSize ?? 100;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) {
      throw new BatonError('validation', 'pageSize: must be a positive integer', {
        field: 'pageSize',
      });
    }
    this.ownsClient = options.ownsClient ?? false;
  }

  async create<T>(collection: string, doc: DocumentInput<T>): Promise<StoredDocument<T>> {
    const target = this.locate(collection, doc.pk, doc.id);
    const item = toCosmosItem(doc, target.cosmosId);
    const { resource } = await this.write(`create ${target.what}`, collection, () =>
      target.container.items.create(item, { disableAutomaticIdGeneration: true }),
    );
    return fromCosmosItem<T>(resource, target.what);
  }

  async read<T>(
    collection: string,
    pk: string,
    id: string,
  ): Promise<StoredDocument<T> | undefined> {
    const target = this.locate(collection, pk, id);
    // The SDK answers a missing item (or container) with statusCode 404 and no resource.
    const { resource } = await callAzure(
      `read ${target.what}`,
      () => target.container.item(target.cosmosId, pk).read<CosmosDocumentItem>(),
      this.retry,
    );
    return resource === undefined || resource === null
      ? undefined
      : fromCosmosItem<T>(resource, target.what);
  }

  async replace<T>(
    collection: string,
    doc: DocumentInput<T>,
    ifMatch: string,
  ): Promise<StoredDocument<T>> {
    const target = this.locate(collection, doc.pk, doc.id);
    validateEtag(ifMatch);
    const item = toCosmosItem(doc, target.cosmosId);
    const { resource } = await callAzure(
      `replace ${target.what}`,
      () =>
        target.container.item(target.cosmosId, doc.pk).replace(item, {
          accessCondition: { type: 'IfMatch', condition: ifMatch },
        }),
      this.retry,
    );
    return fromCosmosItem<T>(resource, target.what);
  }

  async upsert<T>(collection: string, doc: DocumentInput<T>): Promise<StoredDocument<T>> {
    const target = this.locate(collection, doc.pk, doc.id);
    const item = toCosmosItem(doc, target.cosmosId);
    const { resource } = await this.write(`upsert ${target.what}`, collection, () =>
      target.container.items.upsert(item, { disableAutomaticIdGeneration: true }),
    );
    return fromCosmosItem<T>(resource, target.what);
  }

  async delete(collection: string, pk: string, id: string, ifMatch?: string): Promise<void> {
    const target = this.locate(collection, pk, id);
    if (ifMatch !== undefined) validateEtag(ifMatch);
    await callAzure(
      `delete ${target.what}`,
      () =>
        target.container
          .item(target.cosmosId, pk)
          .delete(
            ifMatch === undefined
              ? {}
              : { accessCondition: { type: 'IfMatch', condition: ifMatch } },
          ),
      this.retry,
    );
  }

  async query<T>(collection: string, query: DocumentQuery = {}): Promise<StoredDocument<T>[]> {
    const container = this.container(collection);
    const spec = buildCosmosQuery(query);
    if (query.limit === 0) return [];
    const what = `query ${collection}`;
    let items: unknown[];
    try {
      items = await callAzure(
        what,
        async () => {
          // Restarted from the first page on a retry: a failed fetchNext leaves the iterator
          // in an unknown state, and queries are side-effect free.
          const iterator = container.items.query<unknown>(spec, {
            maxItemCount: this.pageSize,
            ...(query.pk === undefined ? {} : { partitionKey: query.pk }),
          });
          const drained: unknown[] = [];
          while (iterator.hasMoreResults()) {
            const page = await iterator.fetchNext();
            drained.push(...page.resources);
          }
          return drained;
        },
        this.retry,
      );
    } catch (error) {
      if (isBatonError(error, 'not_found')) return []; // no container: an empty collection
      throw error;
    }
    const limited = query.limit === undefined ? items : items.slice(0, query.limit);
    return limited.map((item) => fromCosmosItem<T>(item, `item of ${collection}`));
  }

  /** Disposes the client's background timers when this store created the client. */
  dispose(): void {
    if (this.ownsClient) this.client.dispose();
  }

  /** Creates and upserts: a 404 means the container (or database) is missing. */
  private async write<R>(what: string, collection: string, call: () => Promise<R>): Promise<R> {
    try {
      return await callAzure(what, call, this.retry);
    } catch (error) {
      if (!isBatonError(error, 'not_found')) throw error;
      throw new BatonError(
        'internal',
        `${what}: container "${this.containerFor(collection)}" does not exist in database ` +
          `"${this.databaseId}" (the Bicep or ensureCosmosContainers creates it)`,
        { cause: error },
      );
    }
  }

  private locate(collection: string, pk: string, id: string): DocumentTarget {
    const container = this.container(collection);
    validateKey(pk, 'pk');
    validateKey(id, 'id');
    return { container, cosmosId: encodeCosmosId(id), what: `document ${collection}/${pk}/${id}` };
  }

  private container(collection: string): Container {
    validateKey(collection, 'collection');
    const cached = this.containers.get(collection);
    if (cached !== undefined) return cached;
    const containerId = this.containerFor(collection);
    if (!containerIdPattern.test(containerId)) {
      throw new BatonError(
        'validation',
        `collection: "${collection}" maps to container id "${containerId}", which is not a ` +
          'valid Cosmos DB container id (letters, digits, . _ -; at most 255)',
        { field: 'collection' },
      );
    }
    const container = this.client.database(this.databaseId).container(containerId);
    this.containers.set(collection, container);
    return container;
  }
}

interface DocumentTarget {
  container: Container;
  cosmosId: string;
  what: string;
}

export interface CreateCosmosStateStoreOptions {
  /** `https://<account>.documents.azure.com:443/` */
  endpoint: string;
  databaseId: string;
  /** Entra ID credential; `DefaultAzureCredential` (the managed identity in Azure) by default. */
  credential?: TokenCredential;
  /** Account key: an explicit fallback for accounts without Entra ID data-plane roles. */
  key?: string;
  /** Anything else the client needs (TLS agent, connection policy, user agent suffix, …). */
  clientOptions?: Omit<
    CosmosClientOptions,
    'endpoint' | 'key' | 'aadCredentials' | 'tokenProvider' | 'resourceTokens' | 'permissionFeed'
  >;
  containerFor?: (collection: string) => string;
  retry?: CosmosRetryOptions;
}

/**
 * Builds the CosmosClient and the store over it. Authenticates with Entra ID (`aadCredentials`)
 * unless an account key is given explicitly; giving both is a configuration mistake.
 *
 * The SDK's own throttling retry is switched off by default (`maxRetryAttemptCount: 0`), so a
 * 429 is retried once per policy, by `callAzure` (which honours `x-ms-retry-after-ms`), rather
 * than up to 9 × 4 times by two nested policies. Pass `clientOptions.connectionPolicy.retryOptions`
 * to change that.
 */
export function createCosmosStateStore(options: CreateCosmosStateStoreOptions): CosmosStateStore {
  if (options.key !== undefined && options.credential !== undefined) {
    throw new BatonError('validation', 'Cosmos DB: pass either a credential or a key, not both', {
      field: 'key',
    });
  }
  const { clientOptions = {} } = options;
  const auth: Pick<CosmosClientOptions, 'key' | 'aadCredentials'> =
    options.key !== undefined
      ? { key: options.key }
      : { aadCredentials: options.credential ?? azureCredential() };
  const client = new CosmosClient({
    ...clientOptions,
    ...auth,
    endpoint: options.endpoint,
    connectionPolicy: {
      ...clientOptions.connectionPolicy,
      retryOptions: { maxRetryAttemptCount: 0, ...clientOptions.connectionPolicy?.retryOptions },
    },
  });
  return new CosmosStateStore({
    client,
    databaseId: options.databaseId,
    ownsClient: true,
    ...(options.containerFor === undefined ? {} : { containerFor: options.containerFor }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
  });
}

/**
 * Creates the database and one container per collection (partition key `/pk`, hash v2 so long
 * keys hash in full) when missing. For tests and a first local start; in Azure the Bicep owns
 * them, and the Function app's identity needs no control-plane rights.
 */
export async function ensureCosmosContainers(
  client: CosmosClient,
  databaseId: string,
  collections: readonly string[],
  containerFor: (collection: string) => string = (collection) => collection,
): Promise<void> {
  const { database } = await callAzure(`create database ${databaseId}`, () =>
    client.databases.createIfNotExists({ id: databaseId }),
  );
  for (const collection of collections) {
    const id = containerFor(collection);
    await callAzure(`create container ${databaseId}/${id}`, () =>
      database.containers.createIfNotExists({
        id,
        partitionKey: {
          paths: [cosmosPartitionKeyPath],
          version: PartitionKeyDefinitionVersion.V2,
        },
      }),
    );
  }
}

/**
 * The Cosmos item id for a port id: base64url (RFC 4648 §5, no padding) of its UTF-8 bytes.
 *
 * Chosen over percent-encoding the four forbidden characters because the result is in
 * `[A-Za-z0-9_-]` only: nothing the SDK's `encodeURI`, the gateway or a proxy could re-encode or
 * decode, no trailing spaces or control characters (which Cosmos also mishandles), and still
 * case-sensitive and injective. The cost is length (4/3 of the UTF-8 bytes): a 255-code-unit id
 * encodes to at most 1020 characters, inside Cosmos' 1023-byte limit. Ids must be well-formed
 * UTF-16 (no lone surrogates), which {@link CosmosStateStore} validates, or the UTF-8 step would
 * not be reversible.
 */
export function encodeCosmosId(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** The inverse of {@link encodeCosmosId}; rejects anything it could not have produced. */
export function decodeCosmosId(cosmosId: string): string {
  const id = Buffer.from(cosmosId, 'base64url').toString('utf8');
  if (!/^[A-Za-z0-9_-]*$/.test(cosmosId) || encodeCosmosId(id) !== cosmosId) {
    throw new BatonError('internal', `"${cosmosId}" is not an encoded Baton document id`);
  }
  return id;
}

const maxKeyLength = 255;
const loneSurrogate = /\p{Surrogate}/u;
const containerIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
/** One segment of a dotted body path: a plain identifier, nothing SQL could read as syntax. */
const fieldSegmentPattern = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const maxFieldDepth = 8;

/** The same rules as the local store (so a document valid in one is valid in the other). */
function validateKey(value: unknown, field: string): asserts value is string {
  const why =
    typeof value !== 'string'
      ? 'must be a string'
      : value === ''
        ? 'must not be empty'
        : value.length > maxKeyLength
          ? `must be at most ${maxKeyLength} characters`
          : value.includes('\0')
            ? 'must not contain NUL'
            : loneSurrogate.test(value)
              ? 'must be well-formed Unicode (no lone surrogates)'
              : undefined;
  if (why !== undefined) throw new BatonError('validation', `${field}: ${why}`, { field });
}

/** An empty etag would make the SDK drop the condition and write unconditionally. */
function validateEtag(ifMatch: unknown): void {
  if (typeof ifMatch !== 'string' || ifMatch === '') {
    throw new BatonError('validation', 'ifMatch: must be a non-empty etag', { field: 'ifMatch' });
  }
}

function toCosmosItem<T>(doc: DocumentInput<T>, cosmosId: string): CosmosDocumentItem {
  let text: string | undefined;
  try {
    text = JSON.stringify(doc.body);
  } catch (err) {
    throw new BatonError('validation', 'body: must be JSON-serialisable', {
      field: 'body',
      cause: err,
    });
  }
  // Serialised once up front only to fail as `validation` (a BigInt or a cycle), not as an SDK
  // error; an undefined body is left out, as in the local store.
  return text === undefined
    ? { id: cosmosId, pk: doc.pk, docId: doc.id }
    : { id: cosmosId, pk: doc.pk, docId: doc.id, body: doc.body };
}

/** The port's document from a stored item; anything else in the container is an error. */
function fromCosmosItem<T>(resource: unknown, what: string): StoredDocument<T> {
  const item = resource as (Partial<CosmosDocumentItem> & { _etag?: unknown }) | undefined;
  if (
    typeof item !== 'object' ||
    item === null ||
    typeof item.docId !== 'string' ||
    typeof item.pk !== 'string' ||
    typeof item._etag !== 'string'
  ) {
    throw new BatonError('internal', `${what}: the stored item is not a Baton document`);
  }
  return { id: item.docId, pk: item.pk, etag: item._etag, body: item.body as T };
}

/**
 * The Cosmos SQL expression for a dotted body path, after validating every segment against a
 * strict identifier pattern (paths come from code, but are never trusted: this is the only
 * place text reaches the SQL). Bracket notation keeps names that are SQL keywords (`value`,
 * `order`, `top`) working: `owner.name` → `c.body["owner"]["name"]`.
 */
export function cosmosFieldExpression(path: string, field: string): string {
  const segments = typeof path === 'string' ? path.split('.') : [];
  if (
    segments.length === 0 ||
    segments.length > maxFieldDepth ||
    !segments.every((segment) => fieldSegmentPattern.test(segment))
  ) {
    throw new BatonError(
      'validation',
      `${field}: ${JSON.stringify(path)} is not a dotted path of identifiers ` +
        `(letters, digits and _, at most ${maxFieldDepth} levels)`,
      { field },
    );
  }
  return `c.body${segments.map((segment) => `["${segment}"]`).join('')}`;
}

function isFieldValue(value: unknown): value is FieldValue {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

/**
 * The parameterised SQL for a {@link DocumentQuery}. Values only ever travel as parameters;
 * field paths are validated by {@link cosmosFieldExpression}. The partition is filtered in the
 * WHERE clause as well as passed as the `partitionKey` option: the option scopes the query to one
 * partition in the service, the clause keeps it correct where the option is ignored (the
 * emulator) and documents intent in query logs.
 */
export function buildCosmosQuery(query: DocumentQuery): SqlQuerySpec {
  const parameters: SqlParameter[] = [];
  const parameter = (name: string, value: JSONValue): string => {
    parameters.push({ name, value });
    return name;
  };
  const conditions: string[] = [];
  let valueCount = 0;
  if (query.pk !== undefined) {
    validateKey(query.pk, 'query.pk');
    conditions.push(`c.pk = ${parameter('@pk', query.pk)}`);
  }
  const where: unknown = query.where ?? {};
  if (typeof where !== 'object' || where === null || Array.isArray(where)) {
    throw new BatonError('validation', 'query.where: must be an object', { field: 'query.where' });
  }
  for (const [path, value] of Object.entries(where)) {
    const expression = cosmosFieldExpression(path, 'query.where');
    const field = `query.where.${path}`;
    const name = `@p${valueCount++}`;
    if (Array.isArray(value)) {
      if (!value.every(isFieldValue)) throw invalidValue(field);
      conditions.push(`ARRAY_CONTAINS(${parameter(name, value)}, ${expression})`);
    } else {
      if (!isFieldValue(value)) throw invalidValue(field);
      conditions.push(`${expression} = ${parameter(name, value)}`);
    }
  }
  let top = '';
  if (query.limit !== undefined) {
    if (!(Number.isInteger(query.limit) && query.limit >= 0)) {
      throw new BatonError('validation', 'query.limit: must be a non-negative integer', {
        field: 'query.limit',
      });
    }
    top = `TOP ${parameter('@limit', query.limit)} `;
  }
  let orderBy = '';
  if (query.orderBy !== undefined) {
    const { field, direction } = query.orderBy;
    if (direction !== 'asc' && direction !== 'desc') {
      throw new BatonError('validation', 'query.orderBy.direction: must be asc or desc', {
        field: 'query.orderBy.direction',
      });
    }
    const expression = cosmosFieldExpression(field, 'query.orderBy.field');
    orderBy = ` ORDER BY ${expression} ${direction === 'asc' ? 'ASC' : 'DESC'}`;
  }
  const filter = conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
  return { query: `SELECT ${top}* FROM c${filter}${orderBy}`, parameters };
}

function invalidValue(field: string): BatonError {
  return new BatonError(
    'validation',
    `${field}: must be a string, a finite number, a boolean, null, or a list of those`,
    { field },
  );
}
