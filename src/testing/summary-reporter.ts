import type { SerializedError } from 'vitest';
import type { Reporter, TestCase, TestModule, TestSuite } from 'vitest/node';

/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, so that
 * any reader of the log (CI included) sees the counts without parsing Vitest's
 * own summary. Skipped tests are listed separately and never counted as passed.
 *
 * Vitest reports the tests below a failed `beforeAll` as skipped; here they
 * count as failed (they were meant to run and could not), and only tests
 * declared `.skip`/`.todo` or skipped by `ctx.skip()` count as skipped. A hook
 * failure that no test's count shows (an `afterAll`, or a file that did not
 * load) counts as one failure of its own, and so does each error Vitest
 * caught outside any test (an unhandled rejection): the line never says
 * "0 failed" for a run that failed.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError> = [],
  ): void {
    const { passed, failed, skipped } = countTests(testModules, unhandledErrors.length);
    console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}

type Scope = TestSuite | TestModule;

function hasHookErrors(scope: Scope): boolean {
  return scope.errors().length > 0;
}

/** A test that was meant to run but did not, because a suite around it failed its hooks. */
function blockedByFailedHook(test: TestCase): boolean {
  if (test.result().state !== 'skipped' || test.options.mode !== 'run') return false;
  for (let scope: Scope = test.parent; ; scope = scope.parent) {
    if (hasHookErrors(scope)) return true;
    if (scope.type === 'module') return false;
  }
}

export function countTests(
  testModules: ReadonlyArray<TestModule>,
  unhandledErrors = 0,
): { passed: number; failed: number; skipped: number } {
  let passed = 0;
  let failed = unhandledErrors;
  let skipped = 0;
  for (const mod of testModules) {
    for (const test of mod.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed') passed++;
      else if (state === 'failed' || blockedByFailedHook(test)) failed++;
      else skipped++;
    }
    for (const scope of [mod, ...mod.children.allSuites()]) {
      if (!hasHookErrors(scope)) continue;
      const shown = [...scope.children.allTests()].some(blockedByFailedHook);
      if (!shown) failed++;
    }
    // A file that failed before any hook ran (import or collection error).
    if (mod.state() === 'failed' && mod.children.size === 0 && !hasHookErrors(mod)) failed++;
  }
  return { passed, failed, skipped };
}
