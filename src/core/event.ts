import { toDisposable, type IDisposable } from './lifecycle';
import { onUnexpectedError } from './unexpected-error';

export type Event<T> = (listener: (e: T) => void) => IDisposable;

/**
 * A minimal typed event emitter. Each subscription is a disposable that removes
 * its listener; disposing the emitter disposes every subscription, since they
 * cannot fire again. Capacity: `maxListeners` (default 64); adding one more
 * throws, because an unbounded listener list is always a leak.
 *
 * A listener that throws never reaches the code that fired the event nor the
 * other listeners: its error goes to `onUnexpectedError` (which fails tests).
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
      for (const l of this.subscriptions.keys()) deliver(l, e);
      return;
    }
    for (const l of [...this.subscriptions.keys()]) deliver(l, e);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const sub of [...this.subscriptions.values()]) sub.dispose();
    this.subscriptions.clear();
  }
}

function deliver<T>(listener: (e: T) => void, e: T): void {
  try {
    listener(e);
  } catch (error) {
    onUnexpectedError(error);
  }
}
