/**
 * The events waiting for one slow client. Capacity: `maxItems` entries and
 * `maxBytes` of payload, stated by the owner. When full:
 * - a coalesced event (level, progress, partial, metrics) replaces the one of
 *   its kind already waiting, in its place: the client gets the latest value;
 * - any other event is refused (`overflow`): the owner disconnects the client,
 *   which resynchronises from the current state, since a dropped segment or
 *   state change would leave it wrong without knowing.
 */
export type PushResult = 'queued' | 'coalesced' | 'overflow';

interface Slot<T> {
  item: T;
  bytes: number;
  key: string | null;
}

export class BoundedEventQueue<T> {
  private readonly slots: (Slot<T> | undefined)[];
  private head = 0;
  private count = 0;
  private totalBytes = 0;
  /** The waiting slot of each coalesced kind (at most one per key). */
  private readonly byKey = new Map<string, Slot<T>>();
  /** Coalesced replacements so far, for metrics and tests. */
  coalesced = 0;

  constructor(
    readonly maxItems: number,
    readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number,
  ) {
    if (!(maxItems >= 1) || !(maxBytes >= 1)) throw new Error('BoundedEventQueue needs room');
    this.slots = new Array<Slot<T> | undefined>(maxItems);
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** `key` non-null: the item may replace a waiting one with the same key. */
  push(item: T, key: string | null): PushResult {
    const bytes = this.sizeOf(item);
    if (key !== null) {
      const waiting = this.byKey.get(key);
      if (waiting) {
        if (this.totalBytes - waiting.bytes + bytes > this.maxBytes) return 'overflow';
        this.totalBytes += bytes - waiting.bytes;
        waiting.item = item;
        waiting.bytes = bytes;
        this.coalesced++;
        return 'coalesced';
      }
    }
    if (this.count >= this.maxItems || this.totalBytes + bytes > this.maxBytes) return 'overflow';
    const slot: Slot<T> = { item, bytes, key };
    this.slots[(this.head + this.count) % this.maxItems] = slot;
    this.count++;
    this.totalBytes += bytes;
    if (key !== null) this.byKey.set(key, slot);
    return 'queued';
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const slot = this.slots[this.head]!;
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.maxItems;
    this.count--;
    this.totalBytes -= slot.bytes;
    if (slot.key !== null && this.byKey.get(slot.key) === slot) this.byKey.delete(slot.key);
    return slot.item;
  }

  clear(): void {
    while (this.count > 0) this.shift();
  }
}
