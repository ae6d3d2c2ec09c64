/** A value as text for messages: strings as they are, anything else as JSON (or its type). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // circular or otherwise unserialisable: fall back to the type
  }
  return typeof value;
}
