import { describe, expect, it } from 'vitest';
import { Emitter } from './event';

describe('Emitter', () => {
  it('delivers to listeners until their subscription is disposed', () => {
    const emitter = new Emitter<number>();
    const seen: number[] = [];
    const sub = emitter.event((n) => seen.push(n));
    emitter.fire(1);
    sub.dispose();
    emitter.fire(2);
    expect(seen).toEqual([1]);
    emitter.dispose();
  });

  it('states its capacity: one listener too many throws', () => {
    const emitter = new Emitter<void>(2);
    emitter.event(() => {});
    emitter.event(() => {});
    expect(() => emitter.event(() => {})).toThrow(/more than 2 listeners/);
    emitter.dispose();
    expect(emitter.listenerCount).toBe(0);
  });

  it('a listener removing itself during fire does not skip others', () => {
    const emitter = new Emitter<void>();
    const calls: string[] = [];
    const a = emitter.event(() => {
      calls.push('a');
      a.dispose();
    });
    emitter.event(() => calls.push('b'));
    emitter.fire();
    emitter.fire();
    expect(calls).toEqual(['a', 'b', 'b']);
    emitter.dispose();
  });
});

describe('Emitter isolates listeners', () => {
  it('a throwing listener reaches neither fire() nor the other listeners, and is reported', async () => {
    const { setUnexpectedErrorHandler } = await import('./unexpected-error');
    const reported: unknown[] = [];
    const previous = setUnexpectedErrorHandler((e) => reported.push(e));
    try {
      const emitter = new Emitter<number>();
      const seen: number[] = [];
      emitter.event(() => {
        throw new Error('listener bug');
      });
      emitter.event((n) => seen.push(n));
      expect(() => emitter.fire(7)).not.toThrow();
      expect(seen).toEqual([7]);
      expect(reported).toHaveLength(1);
      expect((reported[0] as Error).message).toBe('listener bug');
      emitter.dispose();
    } finally {
      setUnexpectedErrorHandler(previous);
    }
  });
});
