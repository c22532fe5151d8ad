import { describe, expect, it } from 'vitest';
import { PcmRingBuffer } from './ring-buffer';
import { assertNoLeak, measureLeak } from '../testing/leak';

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

describe('PcmRingBuffer', () => {
  it('states its capacity in seconds and never grows', () => {
    const ring = PcmRingBuffer.forDuration(10, 48_000, 2);
    expect(ring.capacityBytes).toBe(960_000);
    expect(ring.capacitySeconds(48_000)).toBe(10);
    ring.write(new Uint8Array(2_000_000));
    expect(ring.availableBytes).toBe(960_000);
    expect(ring.overrunFrames).toBe((2_000_000 - 960_000) / 2);
  });

  it('returns bytes in order across the wrap point', () => {
    const ring = new PcmRingBuffer(8, 2);
    expect(ring.write(bytes(1, 2, 3, 4, 5, 6))).toBe(3);
    const out = new Uint8Array(4);
    expect(ring.read(out)).toBe(4);
    expect([...out]).toEqual([1, 2, 3, 4]);
    expect(ring.write(bytes(7, 8, 9, 10, 11, 12))).toBe(3); // wraps
    const all = new Uint8Array(8);
    expect(ring.read(all)).toBe(8);
    expect([...all]).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    expect(ring.availableBytes).toBe(0);
  });

  it('drops the newest frames when full and counts them, keeping older audio intact', () => {
    const ring = new PcmRingBuffer(4, 2);
    ring.write(bytes(1, 1, 2, 2));
    expect(ring.write(bytes(3, 3))).toBe(0);
    expect(ring.overrunFrames).toBe(1);
    const out = new Uint8Array(4);
    ring.read(out);
    expect([...out]).toEqual([1, 1, 2, 2]);
  });

  it('accepts whole frames only', () => {
    const ring = new PcmRingBuffer(8, 2);
    expect(ring.write(bytes(1, 2, 3))).toBe(1);
    expect(ring.availableBytes).toBe(2);
  });

  it('peekContiguous is zero-copy and stays valid until consumed', () => {
    const ring = new PcmRingBuffer(8, 2);
    ring.write(bytes(1, 2, 3, 4, 5, 6));
    ring.consume(4);
    ring.write(bytes(7, 8, 9, 10)); // wraps: 5,6,7,8 at the end, 9,10 at the start
    const view = ring.peekContiguous();
    expect([...view]).toEqual([5, 6, 7, 8]);
    ring.write(bytes(11, 12)); // must not touch the unconsumed view
    expect([...view]).toEqual([5, 6, 7, 8]);
    ring.consume(view.byteLength);
    expect([...ring.peekContiguous()]).toEqual([9, 10, 11, 12]);
  });

  it('tracks the high-water mark', () => {
    const ring = new PcmRingBuffer(16, 2);
    ring.write(new Uint8Array(10));
    ring.consume(10);
    ring.write(new Uint8Array(4));
    expect(ring.highWaterBytes).toBe(10);
  });

  it('rejects inconsistent consumption', () => {
    const ring = new PcmRingBuffer(8, 2);
    ring.write(bytes(1, 2));
    expect(() => ring.consume(4)).toThrow(RangeError);
    expect(() => ring.consume(1)).toThrow(RangeError);
  });

  it('write/read does not retain memory (1x/10x/100x)', async () => {
    const ring = PcmRingBuffer.forDuration(1, 48_000, 2);
    const chunk = new Uint8Array(1920);
    const out = new Uint8Array(1920);
    const report = await measureLeak(() => {
      for (let i = 0; i < 100; i++) {
        ring.write(chunk);
        ring.read(out);
      }
    });
    assertNoLeak(report);
  });
});
