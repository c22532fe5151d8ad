import {
  startVirtualMic,
  stopVirtualMic,
  VIRTUAL_MIC_PROBLEM_ENV,
  type VirtualMicLease,
} from '../../e2e/support/virtual-mic-server';
import { makeTempDir, removeTempDir } from './tmp';

/**
 * Once per `vitest run`, before any test file (vitest.config.ts `globalSetup`):
 *
 * - A data directory of the run's own: STENO_HOME and XDG_DATA_HOME point into
 *   a fresh temp dir, inherited by the test workers and every CLI they spawn,
 *   so no test reads or writes a person's models, settings or recordings.
 * - The virtual microphone: left alone when it is up; otherwise brought up for
 *   the run and taken down at its end (e2e/support/virtual-mic-server.ts). When
 *   it cannot be, the reason goes to the tests that need it (requireVirtualMic)
 *   and the others run as usual.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const home = makeTempDir('steno-test-home-');
  process.env.STENO_HOME = `${home}/steno`;
  process.env.XDG_DATA_HOME = `${home}/xdg-data`;

  let lease: VirtualMicLease;
  try {
    lease = await startVirtualMic();
  } catch (e) {
    lease = {
      kind: 'unavailable',
      problem: `the virtual microphone failed to start: ${(e as Error).message}`,
    };
  }
  if (lease.kind === 'unavailable') process.env[VIRTUAL_MIC_PROBLEM_ENV] = lease.problem;
  else delete process.env[VIRTUAL_MIC_PROBLEM_ENV];

  return async () => {
    try {
      await stopVirtualMic(lease);
    } finally {
      removeTempDir(home);
    }
  };
}
