import { describe, expect, it } from 'vitest';
import { Disposable, DisposableStore, MutableDisposable, toDisposable } from './lifecycle';

describe('lifecycle', () => {
  it('toDisposable runs its cleanup once', () => {
    let n = 0;
    const d = toDisposable(() => n++);
    d.dispose();
    d.dispose();
    expect(n).toBe(1);
  });

  it('a store disposes its items in reverse order and disposes late additions at once', () => {
    const order: number[] = [];
    const store = new DisposableStore();
    store.add(toDisposable(() => order.push(1)));
    store.add(toDisposable(() => order.push(2)));
    store.dispose();
    expect(order).toEqual([2, 1]);
    store.add(toDisposable(() => order.push(3)));
    expect(order).toEqual([2, 1, 3]);
  });

  it('a failing item does not stop the others', () => {
    let ran = false;
    const store = new DisposableStore();
    store.add(toDisposable(() => (ran = true)));
    store.add(
      toDisposable(() => {
        throw new Error('boom');
      }),
    );
    expect(() => store.dispose()).toThrow('boom');
    expect(ran).toBe(true);
  });

  it('Disposable owns what it registers', () => {
    let closed = false;
    class Owner extends Disposable {
      constructor() {
        super();
        this._register(toDisposable(() => (closed = true)));
      }
    }
    new Owner().dispose();
    expect(closed).toBe(true);
  });

  it('MutableDisposable disposes the value it replaces', () => {
    const log: string[] = [];
    const m = new MutableDisposable();
    m.value = toDisposable(() => log.push('a'));
    m.value = toDisposable(() => log.push('b'));
    expect(log).toEqual(['a']);
    m.dispose();
    expect(log).toEqual(['a', 'b']);
  });
});
