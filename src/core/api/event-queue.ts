/**
 * The events waiting for one slow client, in the order they were pushed.
 *
 * Capacity: `maxItems` slots and `maxBytes` of payload, stated by the owner.
 * A coalesced event (level, progress, partial, metrics) does not take the
 * place of the one of its key already waiting, since that would deliver it
 * ahead of events pushed between the two (a partial before the segment that
 * preceded it, a new recording's progress before the old one's finished
 * event). Instead the waiting one becomes a tombstone, skipped when reached
 * and costing no bytes, and the new one goes to the tail: the client gets the
 * latest value of each key, in order, and never a stale one.
 *
 * Tombstones hold slots, so they count toward `maxItems`. When every slot is
 * taken, the tombstones are compacted away (an O(maxItems) pass, only when
 * full) and the push goes on; when full of live items, or when the bytes
 * would pass `maxBytes`, the push is refused (`overflow`) and nothing
 * changes: the owner disconnects the client (or resynchronises the window),
 * which then starts over from the current state, since a dropped segment or
 * state change would leave it wrong without knowing. So a client that stops
 * reading is sent away once `maxItems` events that are never coalesced (or
 * `maxBytes` of them) wait for it, while a flood of coalesced events alone
 * never overflows.
 */
export type PushResult = 'queued' | 'coalesced' | 'overflow';

interface Slot<T> {
  item: T;
  bytes: number;
  key: string | null;
  /** False once a newer item of the same key was pushed: skipped by `shift`. */
  live: boolean;
}

export class BoundedEventQueue<T> {
  /** Ring of `maxItems` slots from `head`: live items and tombstones, in push order. */
  private readonly slots: (Slot<T> | undefined)[];
  private head = 0;
  /** Slots taken, tombstones included. */
  private used = 0;
  private liveCount = 0;
  private totalBytes = 0;
  /** The live waiting slot of each coalesced key (at most one per key; capacity: `maxItems`). */
  private readonly byKey = new Map<string, Slot<T>>();
  /** Coalesced pushes so far (each made an older item a tombstone), for metrics and tests. */
  coalesced = 0;
  /** Times the tombstones were compacted away to make room, for metrics and tests. */
  compactions = 0;

  constructor(
    readonly maxItems: number,
    readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number,
  ) {
    if (!(maxItems >= 1) || !(maxBytes >= 1)) throw new Error('BoundedEventQueue needs room');
    this.slots = new Array<Slot<T> | undefined>(maxItems);
  }

  /** Items that will still be delivered (tombstones not counted). */
  get size(): number {
    return this.liveCount;
  }

  /** Slots taken, tombstones included: never above `maxItems`. */
  get slotsUsed(): number {
    return this.used;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** `key` non-null: the item supersedes a waiting one with the same key. */
  push(item: T, key: string | null): PushResult {
    const bytes = this.sizeOf(item);
    const waiting = key === null ? undefined : this.byKey.get(key);
    const freedBytes = waiting ? waiting.bytes : 0;
    if (this.totalBytes - freedBytes + bytes > this.maxBytes) return 'overflow';
    // Room for one more slot: a free one, or a tombstone to compact (the waiting one becomes one).
    const tombstones = this.used - this.liveCount + (waiting ? 1 : 0);
    if (this.used >= this.maxItems && tombstones === 0) return 'overflow';

    if (waiting) {
      waiting.live = false;
      this.liveCount--;
      this.totalBytes -= waiting.bytes;
      this.byKey.delete(key!);
      this.coalesced++;
    }
    if (this.used >= this.maxItems) this.compact();
    const slot: Slot<T> = { item, bytes, key, live: true };
    this.slots[(this.head + this.used) % this.maxItems] = slot;
    this.used++;
    this.liveCount++;
    this.totalBytes += bytes;
    if (key !== null) this.byKey.set(key, slot);
    return waiting ? 'coalesced' : 'queued';
  }

  shift(): T | undefined {
    while (this.used > 0) {
      const slot = this.slots[this.head]!;
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % this.maxItems;
      this.used--;
      if (!slot.live) continue;
      this.liveCount--;
      this.totalBytes -= slot.bytes;
      if (slot.key !== null && this.byKey.get(slot.key) === slot) this.byKey.delete(slot.key);
      return slot.item;
    }
    return undefined;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.used = 0;
    this.liveCount = 0;
    this.totalBytes = 0;
    this.byKey.clear();
  }

  /** Moves the live slots together from `head`, in order, and frees the rest. */
  private compact(): void {
    let write = 0;
    for (let read = 0; read < this.used; read++) {
      const slot = this.slots[(this.head + read) % this.maxItems]!;
      if (!slot.live) continue;
      this.slots[(this.head + write) % this.maxItems] = slot;
      write++;
    }
    for (let i = write; i < this.used; i++) this.slots[(this.head + i) % this.maxItems] = undefined;
    this.used = write;
    this.compactions++;
  }
}
