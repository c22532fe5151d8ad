import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTempDir } from './tmp';

/**
 * The summary line as Vitest itself produces it: each case is a small test file
 * run by a child Vitest with only this reporter, and its closing line is read.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const reporter = path.join(repoRoot, 'src/testing/summary-reporter.ts');
const vitestBin = path.join(repoRoot, 'node_modules/vitest/vitest.mjs');

const fixtures: Record<string, string> = {
  // The shape of the e2e tests: a file-level beforeAll that checks the environment.
  'before-all.fixture.ts': `
    import { beforeAll, it } from 'vitest';
    beforeAll(() => { throw new Error('the environment is missing'); });
    it('one', () => {});
    it('two', () => {});
  `,
  'suites.fixture.ts': `
    import { afterAll, beforeAll, describe, it } from 'vitest';
    describe('a suite whose beforeAll throws', () => {
      beforeAll(() => { throw new Error('setup failed'); });
      it('blocked one', () => {});
      it('blocked two', () => {});
      it.skip('declared skip', () => {});
    });
    describe('a suite whose afterAll throws', () => {
      afterAll(() => { throw new Error('teardown failed'); });
      it('passes', () => {});
    });
    it('skips itself', (ctx) => ctx.skip());
    it.todo('a todo');
    it('fails', () => { throw new Error('no'); });
  `,
  'load-error.fixture.ts': `
    import { it } from 'vitest';
    throw new Error('this file does not load');
    it('never collected', () => {});
  `,
};

let dir: string;
beforeAll(() => {
  // Inside the repository: the fixtures import 'vitest' from its node_modules.
  fs.mkdirSync(path.join(repoRoot, '.cache'), { recursive: true });
  dir = fs.mkdtempSync(path.join(repoRoot, '.cache', 'summary-reporter-'));
  for (const [name, text] of Object.entries(fixtures)) fs.writeFileSync(path.join(dir, name), text);
  fs.writeFileSync(
    path.join(dir, 'vitest.config.mjs'),
    `export default { test: { include: ['*.fixture.ts'], reporters: [${JSON.stringify(reporter)}] } };\n`,
  );
});
afterAll(() => removeTempDir(dir));

function summaryOf(fixture: string): string {
  const run = spawnSync(
    process.execPath,
    [vitestBin, 'run', '--config', 'vitest.config.mjs', '--root', dir, fixture],
    { cwd: dir, encoding: 'utf8', timeout: 60_000 },
  );
  expect(run.status, run.stderr).toBe(1);
  const line = run.stdout.split('\n').find((l) => l.startsWith('tests: '));
  expect(line, `no summary line in:\n${run.stdout}\n${run.stderr}`).toBeDefined();
  return line!;
}

describe('the summary line', () => {
  it('counts the tests under a failed file-level beforeAll as failed, not skipped', () => {
    expect(summaryOf('before-all.fixture.ts')).toBe('tests: 0 passed, 2 failed, 0 skipped');
  });

  it('skips only declared and self-skipped tests; a failed afterAll counts as a failure', () => {
    // failed: two blocked by beforeAll, the afterAll, and 'fails';
    // skipped: the declared skip, the todo and ctx.skip().
    expect(summaryOf('suites.fixture.ts')).toBe('tests: 1 passed, 4 failed, 3 skipped');
  });

  it('counts a file that does not load as one failure', () => {
    expect(summaryOf('load-error.fixture.ts')).toBe('tests: 0 passed, 1 failed, 0 skipped');
  });
});
