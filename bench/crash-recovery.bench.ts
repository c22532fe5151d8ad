/**
 * crash-recovery: `steno record` (live transcript on) killed with SIGKILL at
 * uniformly random moments 0.5-30 s into a recording of known speech played
 * into the virtual microphone; after each kill the next `steno list` recovers
 * it and the recovered file is compared with what was played. The logic and
 * the definitions of every figure are in e2e/support/crash-recovery-run.ts.
 *
 *   npm run bench -- crash-recovery              50 kills
 *   npm run bench -- crash-recovery --quick      10 kills
 *   npm run bench -- crash-recovery --seed N     the kill moments of an earlier run
 *
 * pass: recovered = kills, max_lost_s <= 2, min_correlation >= 0.95,
 * temp_files_left = 0, orphan_processes = 0.
 */
import { requireVirtualMic } from '../e2e/support/virtual-mic';
import { runCrashRecovery } from '../e2e/support/crash-recovery-run';
import { loadAverage1m } from './support';

export default async function crashRecovery(args: string[]): Promise<Record<string, unknown>> {
  requireVirtualMic();
  const kills = args.includes('--quick') ? 10 : 50;
  const seedAt = args.indexOf('--seed');
  const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : Date.now() % 2 ** 32;
  if (!Number.isInteger(seed) || seed < 0) throw new Error('--seed needs a whole number >= 0');
  console.error(`crash-recovery: seed ${seed} (repeat with --seed ${seed})`);
  const loadBefore = loadAverage1m();
  const result = await runCrashRecovery({ kills, seed, log: (line) => console.error(line) });
  return { ...result, load1_before: loadBefore };
}
