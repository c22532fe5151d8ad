import { toDisposable, type IDisposable } from './lifecycle';

export type Event<T> = (listener: (e: T) => void) => IDisposable;

/**
 * A minimal typed event emitter. Listeners are held in a Set; each subscription
 * is a disposable that removes it. Capacity: `maxListeners` (default 64); adding
 * one more throws, because an unbounded listener list is always a leak.
 */
export class Emitter<T> {
  private readonly listeners = new Set<(e: T) => void>();
  private disposed = false;

  constructor(private readonly maxListeners = 64) {}

  readonly event: Event<T> = (listener) => {
    if (this.disposed) return toDisposable(() => {});
    if (this.listeners.size >= this.maxListeners) {
      throw new Error(`Emitter: more than ${this.maxListeners} listeners; a subscription leaks`);
    }
    // Wrap so the same function can subscribe twice and unsubscribe independently.
    const wrapped = (e: T) => listener(e);
    this.listeners.add(wrapped);
    return toDisposable(() => this.listeners.delete(wrapped));
  };

  get listenerCount(): number {
    return this.listeners.size;
  }

  fire(e: T): void {
    for (const l of [...this.listeners]) {
      l(e);
    }
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }
}
