import type { SubQueueKind } from './queueStore.js';

/** What a link attaches to: the CBS node, an entity's management node, or a queue (or its DLQ). */
export type LinkTarget =
  | { node: 'cbs' }
  | { node: 'management'; queue: string; kind: SubQueueKind }
  | { node: 'queue'; queue: string; kind: SubQueueKind }
  | { node: 'unsupported'; address: string };

const deadLetterSuffix = '/$deadletterqueue';
const managementSuffix = '/$management';

/**
 * Parses a link address as the SDK writes it (`q`, `q/$DeadLetterQueue`, `q/$management`,
 * `$cbs`), tolerating a leading `sb://host/`. Queue names are case-insensitive, as in Service Bus.
 */
export function parseAddress(raw: string | undefined): LinkTarget {
  const address = (raw ?? '').replace(/^(amqps?|sb):\/\/[^/]+\//i, '').replace(/^\/+/, '');
  if (address === '$cbs') return { node: 'cbs' };
  let path = address.toLowerCase();
  let node: 'management' | 'queue' = 'queue';
  if (path.endsWith(managementSuffix)) {
    node = 'management';
    path = path.slice(0, -managementSuffix.length);
  }
  let kind: SubQueueKind = 'active';
  if (path.endsWith(deadLetterSuffix)) {
    kind = 'deadLetter';
    path = path.slice(0, -deadLetterSuffix.length);
  }
  if (path === '' || path.includes('$')) return { node: 'unsupported', address };
  return { node, queue: path, kind };
}
