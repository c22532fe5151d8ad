import { afterEach, beforeEach, expect } from 'vitest';
import { setDisposableTracker, type DisposableTracker, type IDisposable } from '../core/lifecycle';
import { setUnexpectedErrorHandler } from '../core/unexpected-error';

/**
 * Every test runs under a disposable tracker, as VS Code's
 * `ensureNoDisposablesAreLeakedInTestSuite`: anything created during the test
 * and not disposed by its end fails the test, with where it was created.
 */
class LeakTracker implements DisposableTracker {
  readonly live = new Map<IDisposable, string>();
  trackCreated(d: IDisposable): void {
    this.live.set(d, new Error('created here').stack ?? '');
  }
  trackDisposed(d: IDisposable): void {
    this.live.delete(d);
  }
}

let current: LeakTracker | null = null;
/** Errors that reached `onUnexpectedError` (a listener threw): each fails its test. */
let unexpected: unknown[] = [];

beforeEach(() => {
  current = new LeakTracker();
  setDisposableTracker(current);
  unexpected = [];
  setUnexpectedErrorHandler((e) => unexpected.push(e));
});

afterEach(() => {
  setUnexpectedErrorHandler(null);
  if (unexpected.length > 0) {
    const errors = unexpected;
    unexpected = [];
    expect.fail(
      `${errors.length} unexpected error(s) reached onUnexpectedError:\n` +
        errors.map((e) => (e as Error)?.stack ?? String(e)).join('\n---\n'),
    );
  }
});

afterEach(() => {
  const tracker = current;
  setDisposableTracker(null);
  current = null;
  if (!tracker || tracker.live.size === 0) return;
  const first = [...tracker.live.entries()].slice(0, 3);
  const detail = first
    .map(([d, stack]) => `${d.constructor.name}\n${stack.split('\n').slice(2, 8).join('\n')}`)
    .join('\n---\n');
  expect.fail(
    `${tracker.live.size} disposable(s) created in this test were not disposed:\n${detail}`,
  );
});
