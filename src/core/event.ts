import { toDisposable, type IDisposable } from './lifecycle';

export type Event<T> = (listener: (e: T) => void) => IDisposable;

/**
 * A minimal typed event emitter. Each subscription is a disposable that removes
 * its listener; disposing the emitter disposes every subscription, since they
 * cannot fire again. Capacity: `maxListeners` (default 64); adding one more
 * throws, because an unbounded listener list is always a leak.
 */
export class Emitter<T> {
  private readonly subscriptions = new Map<(e: T) => void, IDisposable>();
  private disposed = false;

  constructor(private readonly maxListeners = 64) {}

  readonly event: Event<T> = (listener) => {
    if (this.disposed) return toDisposable(() => {});
    if (this.subscriptions.size >= this.maxListeners) {
      throw new Error(`Emitter: more than ${this.maxListeners} listeners; a subscription leaks`);
    }
    // Wrap so the same function can subscribe twice and unsubscribe independently.
    const wrapped = (e: T) => listener(e);
    const subscription = toDisposable(() => this.subscriptions.delete(wrapped));
    this.subscriptions.set(wrapped, subscription);
    return subscription;
  };

  get listenerCount(): number {
    return this.subscriptions.size;
  }

  fire(e: T): void {
    if (this.subscriptions.size === 1) {
      // The common case (one owner listening) without allocating a copy.
      for (const l of this.subscriptions.keys()) l(e);
      return;
    }
    for (const l of [...this.subscriptions.keys()]) {
      l(e);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const sub of [...this.subscriptions.values()]) sub.dispose();
    this.subscriptions.clear();
  }
}
