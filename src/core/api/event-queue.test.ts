import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../prng';
import { BoundedEventQueue } from './event-queue';

interface Item {
  name: string;
  bytes: number;
}

const item = (name: string, bytes = 10): Item => ({ name, bytes });
const queueOf = (maxItems: number, maxBytes = 1_000_000) =>
  new BoundedEventQueue<Item>(maxItems, maxBytes, (i) => i.bytes);

function drain(queue: BoundedEventQueue<Item>): string[] {
  const out: string[] = [];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) out.push(next.name);
  return out;
}

describe('BoundedEventQueue', () => {
  it('keeps the order across coalescing: a newer partial never overtakes a segment', () => {
    const queue = queueOf(16);
    expect(queue.push(item('P1'), 'partial')).toBe('queued');
    expect(queue.push(item('S'), null)).toBe('queued');
    expect(queue.push(item('P2'), 'partial')).toBe('coalesced');
    expect(queue.size).toBe(2);
    expect(drain(queue)).toEqual(['S', 'P2']);
  });

  it("delivers the old recording's finished event before the new one's progress", () => {
    const queue = queueOf(16);
    queue.push(item('progress old'), 'progress');
    queue.push(item('finished old'), null);
    queue.push(item('state new'), null);
    queue.push(item('progress new'), 'progress');
    expect(drain(queue)).toEqual(['finished old', 'state new', 'progress new']);
  });

  it('delivers the latest value of each key, once, after what was pushed before it', () => {
    const queue = queueOf(64);
    for (let i = 0; i < 10; i++) {
      queue.push(item(`level ${i}`), 'level');
      queue.push(item(`progress ${i}`), 'progress');
    }
    queue.push(item('segment'), null);
    queue.push(item('level 10'), 'level');
    expect(drain(queue)).toEqual(['progress 9', 'segment', 'level 10']);
    expect(queue.coalesced).toBe(19);
  });

  it('counts only live items in size and bytes; tombstones cost a slot, not bytes', () => {
    const queue = queueOf(8);
    queue.push(item('a', 100), 'k');
    queue.push(item('b', 7), 'k');
    queue.push(item('c', 5), 'k');
    expect(queue.size).toBe(1);
    expect(queue.bytes).toBe(5);
    expect(queue.slotsUsed).toBe(3);
    expect(drain(queue)).toEqual(['c']);
    expect(queue.slotsUsed).toBe(0);
    expect(queue.bytes).toBe(0);
  });

  it('compacts the tombstones when every slot is taken, and overflows when full of live items', () => {
    const queue = queueOf(4);
    queue.push(item('k1'), 'k');
    queue.push(item('B'), null);
    queue.push(item('C'), null);
    queue.push(item('k2'), 'k');
    expect(queue.slotsUsed).toBe(4);
    expect(queue.size).toBe(3);
    // The tombstone of k1 is the only free room: compacted away.
    expect(queue.push(item('D'), null)).toBe('queued');
    expect(queue.compactions).toBe(1);
    expect(queue.slotsUsed).toBe(4);
    // Four live items in four slots: nothing more fits.
    expect(queue.push(item('E'), null)).toBe('overflow');
    // A coalesced push still fits: its predecessor becomes the tombstone that makes room.
    expect(queue.push(item('k3'), 'k')).toBe('coalesced');
    expect(drain(queue)).toEqual(['B', 'C', 'D', 'k3']);
  });

  it('never overflows on a flood of coalesced events alone', () => {
    const queue = queueOf(8);
    queue.push(item('segment'), null);
    queue.push(item('level first'), 'level');
    queue.push(item('progress first'), 'progress');
    const results = new Set<string>();
    let mostSlots = 0;
    for (let i = 0; i < 10_000; i++) {
      results.add(queue.push(item(`level ${i}`), 'level'));
      results.add(queue.push(item(`progress ${i}`), 'progress'));
      mostSlots = Math.max(mostSlots, queue.slotsUsed);
    }
    expect([...results]).toEqual(['coalesced']);
    expect(mostSlots).toBeLessThanOrEqual(8);
    // The tombstones filled the slots again and again and were compacted away.
    expect(queue.compactions).toBeGreaterThan(1000);
    expect(drain(queue)).toEqual(['segment', 'level 9999', 'progress 9999']);
  });

  it('reports overflow on items and on bytes, and changes nothing when it does', () => {
    const byItems = queueOf(3);
    for (const name of ['a', 'b', 'c']) expect(byItems.push(item(name), null)).toBe('queued');
    expect(byItems.push(item('d'), null)).toBe('overflow');
    expect(byItems.push(item('e'), 'k')).toBe('overflow');
    expect(byItems.size).toBe(3);
    expect(drain(byItems)).toEqual(['a', 'b', 'c']);

    const byBytes = queueOf(100, 100);
    expect(byBytes.push(item('a', 60), null)).toBe('queued');
    expect(byBytes.push(item('k1', 30), 'k')).toBe('queued');
    expect(byBytes.push(item('b', 11), null)).toBe('overflow');
    // Replacing k1 (30 bytes) by 41 bytes would make 101: refused, and k1 is kept.
    expect(byBytes.push(item('k2', 41), 'k')).toBe('overflow');
    expect(byBytes.bytes).toBe(90);
    expect(byBytes.push(item('k3', 40), 'k')).toBe('coalesced');
    expect(byBytes.bytes).toBe(100);
    expect(drain(byBytes)).toEqual(['a', 'k3']);
  });

  it('refuses an item larger than the whole byte capacity', () => {
    const queue = queueOf(4, 50);
    expect(queue.push(item('huge', 51), null)).toBe('overflow');
    expect(queue.push(item('fits', 50), null)).toBe('queued');
  });

  it('empties on clear and works again after it', () => {
    const queue = queueOf(4);
    queue.push(item('a'), 'k');
    queue.push(item('b'), null);
    queue.push(item('c'), 'k');
    queue.clear();
    expect(queue.size).toBe(0);
    expect(queue.slotsUsed).toBe(0);
    expect(queue.bytes).toBe(0);
    expect(queue.shift()).toBeUndefined();
    queue.push(item('d'), 'k');
    queue.push(item('e'), 'k');
    expect(drain(queue)).toEqual(['e']);
  });

  it('matches a plain model over 50,000 random pushes and shifts, within its bounds', () => {
    const rand = mulberry32(7031);
    const maxItems = 32;
    const maxBytes = 2_000;
    const queue = queueOf(maxItems, maxBytes);
    /** What should wait, in order: every push that was not refused, minus superseded ones. */
    let model: { name: string; key: string | null; bytes: number }[] = [];
    const keys = ['level', 'progress', 'partial', 'metrics'];
    const neverDroppedPushed: string[] = [];
    const neverDroppedDelivered: string[] = [];
    let overflows = 0;
    /** Bursts of pushes, then of shifts, so the queue fills up and empties again. */
    let pushChance = 0.9;

    for (let i = 0; i < 50_000; i++) {
      if (i % 400 === 0) pushChance = pushChance > 0.5 ? 0.25 : 0.9;
      if (rand() < pushChance) {
        const key = rand() < 0.7 ? keys[Math.floor(rand() * keys.length)]! : null;
        const bytes = 1 + Math.floor(rand() * 150);
        const name = `${key ?? 'event'} ${i}`;
        const result = queue.push(item(name, bytes), key);
        const kept = model.filter((m) => key === null || m.key !== key);
        const wouldBytes = kept.reduce((sum, m) => sum + m.bytes, 0) + bytes;
        const mustOverflow = wouldBytes > maxBytes || kept.length + 1 > maxItems;
        const expected = mustOverflow
          ? 'overflow'
          : kept.length < model.length
            ? 'coalesced'
            : 'queued';
        if (result !== expected) expect(result, `push ${i}`).toBe(expected);
        if (result === 'overflow') {
          overflows++;
        } else {
          model = [...kept, { name, key, bytes }];
          if (key === null) neverDroppedPushed.push(name);
        }
      } else {
        const next = queue.shift();
        const expected = model.shift();
        if (next?.name !== expected?.name) expect(next?.name, `shift ${i}`).toBe(expected?.name);
        if (next && expected?.key === null) neverDroppedDelivered.push(next.name);
      }
      const modelBytes = model.reduce((sum, m) => sum + m.bytes, 0);
      const withinBounds =
        queue.size === model.length &&
        queue.bytes === modelBytes &&
        queue.bytes <= maxBytes &&
        queue.slotsUsed <= maxItems &&
        queue.slotsUsed >= queue.size;
      if (!withinBounds) {
        expect(
          { size: queue.size, bytes: queue.bytes, slots: queue.slotsUsed },
          `after step ${i}`,
        ).toEqual({ size: model.length, bytes: modelBytes, slots: '<= ' + maxItems });
      }
    }
    for (const m of model) if (m.key === null) neverDroppedDelivered.push(m.name);
    expect(drain(queue)).toEqual(model.map((m) => m.name));
    // Every never-coalesced item that was accepted arrived, once, in order.
    expect(neverDroppedDelivered).toEqual(neverDroppedPushed);
    // The run reached the limits and the compaction, not only the easy cases.
    expect(overflows).toBeGreaterThan(0);
    expect(queue.compactions).toBeGreaterThan(0);
    expect(queue.coalesced).toBeGreaterThan(0);
  });
});
