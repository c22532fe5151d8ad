import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SENTENCE =
  "Steno's window needs Electron's binary, which is not installed on this machine (it was installed offline); " +
  'run `npm install` with network access to fetch it, or use the CLI: `npm run steno -- --help`.';

function runStart(env: Record<string, string | undefined>) {
  const clean = { ...process.env };
  delete clean.ELECTRON_EXEC_PATH;
  delete clean.ELECTRON_OVERRIDE_DIST_PATH;
  return spawnSync(process.execPath, ['native/start.mjs'], {
    cwd: ROOT,
    env: { ...clean, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

function expectOneSentenceAndExit1(result: ReturnType<typeof runStart>): void {
  expect(result.error).toBeUndefined();
  expect(result.status).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toBe(`${SENTENCE}\n`);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

// This machine, like CI, installs with ELECTRON_SKIP_BINARY_DOWNLOAD=1.
describe('npm start without Electron’s binary', () => {
  it('prints one sentence and exits 1, with no stack trace and no download attempt', () => {
    expectOneSentenceAndExit1(runStart({}));
  });

  it('treats an ELECTRON_EXEC_PATH that does not exist as missing', () => {
    expectOneSentenceAndExit1(runStart({ ELECTRON_EXEC_PATH: '/nonexistent/electron' }));
  });
});
