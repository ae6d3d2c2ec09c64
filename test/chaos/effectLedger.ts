import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Services } from '../../shared/app/services.js';
import type { Bus, OutgoingMessage } from '../../shared/ports/bus.js';
import type { ComputeBackend, JobSpec } from '../../shared/ports/compute.js';
import type { Lake, LakeWriteOptions } from '../../shared/ports/lake.js';
import type { DocumentInput, StateStore } from '../../shared/ports/stateStore.js';

/**
 * Records the side effects the app makes through its ports while a delivery (one call of an
 * activity or queue function's handler) runs, and judges each one *effective* or not against
 * what the ports already hold: a lake write that changed a file's content, a state write that
 * changed a document, a message with a messageId never sent before (Service Bus drops
 * duplicates within its detection window), a compute launch of a job id never launched before
 * (a backend launches one job id once, by contract). A redelivered handler is idempotent when
 * its second delivery makes no effective side effect.
 */
export type EffectKind = 'lake' | 'state' | 'bus' | 'compute';

export interface Effect {
  kind: EffectKind;
  op: 'create' | 'change' | 'delete' | 'send' | 'launch';
  /** The thing changed: a lake path, `collection/pk/id`, `queue/messageId`, a job id. */
  key: string;
  /** Where a creation lands: a lake folder, a collection, a queue, the backend. */
  group: string;
  /** A state document whose only changes are ISO timestamps (a "seen at" refresh). */
  timestampOnly: boolean;
  /**
   * A state change that accumulates: a list grew (an entry appended) or a counter went up by
   * one. Applied twice, such a change leaves a trace (two entries, a count one too high);
   * status changes (`pending` → `running`) and overwrites do not.
   */
  accumulates: string[];
}

export interface Delivery {
  fn: string;
  /** One invocation of the function: the same input delivered several times. */
  invocation: string;
  label: string;
  effects: Effect[];
}

const isoInstant = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function withoutTimestamps(json: string | null | undefined): string {
  if (json === null || json === undefined) return String(json);
  return JSON.stringify(JSON.parse(json), (_key, value: unknown) =>
    typeof value === 'string' && isoInstant.test(value) ? '<instant>' : value,
  );
}

function md5(data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('hex');
}

export class EffectLedger {
  private readonly current = new AsyncLocalStorage<Delivery>();
  private readonly lakeContent = new Map<string, string | null>();
  private readonly docs = new Map<string, string | null>();
  private readonly sent = new Set<string>();
  private readonly launched = new Set<string>();
  /** Every job id launched effectively, in order (the backend's launches, as the app asked). */
  readonly launches: string[] = [];

  /** Runs `fn` as one delivery; side effects made in its async chain are attributed to it. */
  deliver<T>(delivery: Delivery, fn: () => Promise<T>): Promise<T> {
    return this.current.run(delivery, fn);
  }

  private record(effect: Omit<Effect, 'timestampOnly' | 'accumulates'> & Partial<Effect>): void {
    this.current.getStore()?.effects.push({ timestampOnly: false, accumulates: [], ...effect });
  }

  wrap(services: Services): Services {
    return {
      ...services,
      lake: this.wrapLake(services.lake),
      state: this.wrapState(services.state),
      bus: this.wrapBus(services.bus),
      compute: this.wrapCompute(services.compute),
    };
  }

  private wrapLake(inner: Lake): Lake {
    const known = async (p: string): Promise<void> => {
      if (this.lakeContent.has(p)) return;
      const entry = await inner.stat(p).catch(() => undefined);
      const content = entry === undefined ? null : (entry.md5 ?? md5(await inner.read(p)));
      if (!this.lakeContent.has(p)) this.lakeContent.set(p, content);
    };
    const wrote = (p: string, content: string): void => {
      const before = this.lakeContent.get(p);
      this.lakeContent.set(p, content);
      if (before === content) return;
      this.record({
        kind: 'lake',
        op: before === null || before === undefined ? 'create' : 'change',
        key: p,
        group: path.posix.dirname(p),
      });
    };
    return override<Lake>(inner, {
      write: async (p: string, data: Uint8Array | string, options?: LakeWriteOptions) => {
        await known(p);
        const entry = await inner.write(p, data, options);
        wrote(p, entry.md5 ?? md5(data));
        return entry;
      },
      uploadFile: async (local: string, p: string, options?: LakeWriteOptions) => {
        await known(p);
        const entry = await inner.uploadFile(local, p, options);
        wrote(p, entry.md5 ?? md5(await readFile(local)));
        return entry;
      },
      delete: async (p: string, options?: { recursive?: boolean }) => {
        const removed = await inner.delete(p, options);
        for (const key of this.lakeContent.keys()) {
          if (key === p || key.startsWith(`${p}/`)) this.lakeContent.set(key, null);
        }
        if (removed)
          this.record({ kind: 'lake', op: 'delete', key: p, group: path.posix.dirname(p) });
        return removed;
      },
    });
  }

  private wrapState(inner: StateStore): StateStore {
    const keyOf = (collection: string, pk: string, id: string): string =>
      `${collection}/${pk}/${id}`;
    const known = async (collection: string, pk: string, id: string): Promise<void> => {
      const key = keyOf(collection, pk, id);
      if (this.docs.has(key)) return;
      const doc = await inner.read(collection, pk, id);
      if (!this.docs.has(key))
        this.docs.set(key, doc === undefined ? null : JSON.stringify(doc.body));
    };
    const wrote = (collection: string, doc: DocumentInput<unknown>): void => {
      const key = keyOf(collection, doc.pk, doc.id);
      const before = this.docs.get(key);
      const after = JSON.stringify(doc.body);
      this.docs.set(key, after);
      if (before === after) return;
      const created = before === null || before === undefined;
      this.record({
        kind: 'state',
        op: created ? 'create' : 'change',
        key,
        group: collection,
        timestampOnly: !created && withoutTimestamps(before) === withoutTimestamps(after),
        accumulates: created ? [] : accumulated(JSON.parse(before) as unknown, doc.body, ''),
      });
    };
    return override<StateStore>(inner, {
      create: async <T>(collection: string, doc: DocumentInput<T>) => {
        const stored = await inner.create(collection, doc);
        const key = keyOf(collection, doc.pk, doc.id);
        this.docs.set(key, null);
        wrote(collection, doc);
        return stored;
      },
      replace: async <T>(collection: string, doc: DocumentInput<T>, ifMatch: string) => {
        await known(collection, doc.pk, doc.id);
        const stored = await inner.replace(collection, doc, ifMatch);
        wrote(collection, doc);
        return stored;
      },
      upsert: async <T>(collection: string, doc: DocumentInput<T>) => {
        await known(collection, doc.pk, doc.id);
        const stored = await inner.upsert(collection, doc);
        wrote(collection, doc);
        return stored;
      },
      delete: async (collection: string, pk: string, id: string, ifMatch?: string) => {
        await inner.delete(collection, pk, id, ifMatch);
        this.docs.set(keyOf(collection, pk, id), null);
        this.record({
          kind: 'state',
          op: 'delete',
          key: keyOf(collection, pk, id),
          group: collection,
        });
      },
    });
  }

  private wrapBus(inner: Bus): Bus {
    return override<Bus>(inner, {
      send: async (queue: string, messages: OutgoingMessage[]) => {
        const fresh = messages.filter((m) => !this.sent.has(`${queue}/${m.messageId}`));
        for (const m of fresh) this.sent.add(`${queue}/${m.messageId}`);
        try {
          await inner.send(queue, messages);
        } catch (error) {
          for (const m of fresh) this.sent.delete(`${queue}/${m.messageId}`);
          throw error;
        }
        for (const m of fresh) {
          this.record({ kind: 'bus', op: 'send', key: `${queue}/${m.messageId}`, group: queue });
        }
      },
    });
  }

  private wrapCompute(inner: ComputeBackend): ComputeBackend {
    return override<ComputeBackend>(inner, {
      launch: async (spec: JobSpec) => {
        const fresh = !this.launched.has(spec.jobId);
        this.launched.add(spec.jobId);
        const status = await inner.launch(spec);
        if (fresh) {
          this.launches.push(spec.jobId);
          this.record({ kind: 'compute', op: 'launch', key: spec.jobId, group: inner.name });
        }
        return status;
      },
    });
  }
}

/** Paths below which `after` grew a list or bumped a counter by one compared with `before`. */
function accumulated(before: unknown, after: unknown, at: string): string[] {
  if (Array.isArray(before) && Array.isArray(after)) {
    return after.length > before.length ? [at] : [];
  }
  if (typeof before === 'number' && typeof after === 'number') {
    return Number.isInteger(before) && after === before + 1 ? [at] : [];
  }
  if (before && after && typeof before === 'object' && typeof after === 'object') {
    const a = before as Record<string, unknown>;
    const b = after as Record<string, unknown>;
    return Object.keys(b).flatMap((k) => (k in a ? accumulated(a[k], b[k], `${at}.${k}`) : []));
  }
  return [];
}

/** `inner` with some methods replaced; the others called on `inner` itself (private fields work). */
function override<T extends object>(inner: T, methods: Partial<T>): T {
  return new Proxy(inner, {
    get(target, prop) {
      if (Object.hasOwn(methods, prop)) return (methods as Record<string | symbol, unknown>)[prop];
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

/** Effects that change something: timestamp-only refreshes and the given bookkeeping left out. */
export function substantive(effects: Effect[], bookkeeping: (e: Effect) => boolean): Effect[] {
  return effects.filter((e) => !e.timestampOnly && !bookkeeping(e));
}

/**
 * Effects of a delivery that repeated the input's work: anything created, sent, launched,
 * deleted or written to the lake, and state changes that accumulate. (A state change that only
 * moves a status or overwrites a value is the same whoever makes it, once or twice.)
 */
export function repeatingEffects(effects: Effect[]): Effect[] {
  return effects.filter((e) => e.kind !== 'state' || e.op !== 'change' || e.accumulates.length > 0);
}

/**
 * Of two deliveries that ran at the same time, the effects of `b` that repeat one of `a`'s:
 * both created something in the same place (a second record, message, file or job where one
 * was due), both changed the same lake file, or both accumulated at the same place of the
 * same state document.
 */
export function repeatedEffects(a: Effect[], b: Effect[]): Effect[] {
  return b.filter((eb) =>
    a.some((ea) => {
      if (ea.kind !== eb.kind) return false;
      if (ea.kind === 'state' && ea.op === 'change' && eb.op === 'change') {
        return ea.key === eb.key && ea.accumulates.some((p) => eb.accumulates.includes(p));
      }
      if (ea.key === eb.key) return true;
      return (
        ea.op === eb.op && ['create', 'send', 'launch'].includes(ea.op) && ea.group === eb.group
      );
    }),
  );
}
