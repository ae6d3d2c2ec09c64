import { randomUUID } from 'node:crypto';

/**
 * Service Bus lock tokens travel as 16-byte delivery tags in .NET `Guid` byte order: the first
 * three groups (4, 2 and 2 bytes) are little-endian, the last 8 bytes are as written. The SDK
 * reorders the tag back into the canonical UUID string, which is what `$management` requests
 * carry (as a plain AMQP uuid, canonical order).
 */
export function newLockToken(): string {
  return randomUUID();
}

export function uuidToBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a uuid: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

export function bytesToUuid(bytes: Buffer): string {
  if (bytes.length !== 16) throw new Error(`a uuid has 16 bytes, got ${bytes.length}`);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Swaps between canonical and .NET byte order (the swap is its own inverse). */
function swapGuidOrder(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  out.writeUInt32LE(bytes.readUInt32BE(0), 0);
  out.writeUInt16LE(bytes.readUInt16BE(4), 4);
  out.writeUInt16LE(bytes.readUInt16BE(6), 6);
  return out;
}

export function lockTokenToDeliveryTag(token: string): Buffer {
  return swapGuidOrder(uuidToBytes(token));
}

export function deliveryTagToLockToken(tag: Buffer | string): string | undefined {
  const bytes = typeof tag === 'string' ? Buffer.from(tag) : tag;
  return bytes.length === 16 ? bytesToUuid(swapGuidOrder(bytes)) : undefined;
}
