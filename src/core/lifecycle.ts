/**
 * Ownership of resources, after VS Code's `lifecycle.ts`.
 *
 * Every owner of a file descriptor, native handle, process, timer, listener or
 * subscription wraps it in an `IDisposable` and registers it with its own owner.
 * A tracker (installed by tests) records every disposable created and every one
 * disposed, so a test fails when something was created and never disposed.
 */

export interface IDisposable {
  dispose(): void;
}

/** Observes disposables; tests install one to find leaks. */
export interface DisposableTracker {
  trackCreated(d: IDisposable): void;
  trackDisposed(d: IDisposable): void;
}

let tracker: DisposableTracker | null = null;

export function setDisposableTracker(t: DisposableTracker | null): void {
  tracker = t;
}

function markCreated(d: IDisposable): void {
  tracker?.trackCreated(d);
}

function markDisposed(d: IDisposable): void {
  tracker?.trackDisposed(d);
}

class FunctionDisposable implements IDisposable {
  private done = false;
  constructor(private readonly fn: () => void) {
    markCreated(this);
  }
  dispose(): void {
    if (this.done) return;
    this.done = true;
    markDisposed(this);
    this.fn();
  }
}

/** Turns a cleanup function into a disposable that runs it at most once. */
export function toDisposable(fn: () => void): IDisposable {
  return new FunctionDisposable(fn);
}

/** Disposes every item; collects errors and rethrows them after all ran. */
export function disposeAll(items: Iterable<IDisposable>): void {
  const errors: unknown[] = [];
  for (const d of items) {
    try {
      d.dispose();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'several disposables failed');
}

/**
 * A set of disposables owned together. Capacity: unbounded by count, but every
 * item is removed when disposed through `delete`, and adding to a disposed store
 * disposes the item at once (and warns) instead of leaking it.
 */
export class DisposableStore implements IDisposable {
  private readonly items = new Set<IDisposable>();
  private disposed = false;

  constructor() {
    markCreated(this);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  add<T extends IDisposable>(d: T): T {
    if (this.disposed) {
      d.dispose();
      return d;
    }
    this.items.add(d);
    return d;
  }

  /** Removes and disposes one item. */
  delete(d: IDisposable): void {
    if (this.items.delete(d)) d.dispose();
  }

  /** Removes one item without disposing it; the caller now owns it. */
  release(d: IDisposable): void {
    this.items.delete(d);
  }

  /** Disposes the items but keeps the store usable. */
  clear(): void {
    const items = [...this.items];
    this.items.clear();
    disposeAll(items.reverse());
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    markDisposed(this);
    this.clear();
  }
}

/** Base class for owners: `_register` ties a resource's life to this object's. */
export abstract class Disposable implements IDisposable {
  protected readonly _store = new DisposableStore();

  constructor() {
    markCreated(this);
  }

  protected _register<T extends IDisposable>(d: T): T {
    return this._store.add(d);
  }

  dispose(): void {
    markDisposed(this);
    this._store.dispose();
  }
}

/** Holds at most one disposable; setting a new value disposes the old one. */
export class MutableDisposable<T extends IDisposable> implements IDisposable {
  private current: T | undefined;
  private disposed = false;

  constructor() {
    markCreated(this);
  }

  get value(): T | undefined {
    return this.current;
  }

  set value(v: T | undefined) {
    if (this.disposed) {
      v?.dispose();
      return;
    }
    if (v === this.current) return;
    const old = this.current;
    this.current = v;
    old?.dispose();
  }

  clearAndLeak(): T | undefined {
    const v = this.current;
    this.current = undefined;
    return v;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    markDisposed(this);
    const old = this.current;
    this.current = undefined;
    old?.dispose();
  }
}
