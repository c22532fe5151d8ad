import { beforeAll, describe, expect, it } from 'vitest';
import { CRASH_BOUNDS, runCrashRecovery } from './support/crash-recovery-run';
import { requireVirtualMic } from './support/virtual-mic';

const KILLS = 3;

beforeAll(() => requireVirtualMic());

describe('steno record killed with SIGKILL at random moments', () => {
  it(`recovers each of ${KILLS} recordings with at most 2 s lost, the played speech in it, no temp files and no orphans`, async () => {
    // A new seed every run widens what the test sees over time; printed so a failure can be repeated
    // (npm run bench -- crash-recovery --seed N gives the same kill moments).
    const seed = Date.now() % 2 ** 32;
    console.log(`crash-recovery seed ${seed}`);
    const r = await runCrashRecovery({ kills: KILLS, seed, log: (line) => console.log(line) });
    console.log(JSON.stringify(r));
    expect(r.problems).toEqual([]);
    expect(r.kills).toBe(KILLS);
    expect(r.recovered).toBe(r.kills);
    expect(r.max_lost_s).toBeLessThanOrEqual(CRASH_BOUNDS.maxLostS);
    expect(r.min_correlation).toBeGreaterThanOrEqual(CRASH_BOUNDS.minCorrelation);
    expect(r.temp_files_left).toBe(0);
    expect(r.orphan_processes).toBe(0);
    expect(r.pass).toBe(true);
  }, 300_000);
});
