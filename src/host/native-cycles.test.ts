import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HOST_ENV } from '../main/transcription/host-process';
import { ensureWhisperModel } from '../testing/ggml-whisper-model';
import { slopePerX } from '../testing/least-squares';
import { ensureSpeakerEmbeddingModel } from '../testing/speaker-model';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHILD = path.join(repoRoot, 'src/testing/native-cycles-child.ts');
const CYCLES = 100;
/** The first cycles fill allocator arenas and caches; the trend after them is what grows. */
const FIRST_COUNTED_CYCLE = 20;
const MAX_SLOPE_MB_PER_CYCLE = 0.05;
/** Cycles 20-99 make 8 blocks of 10 cycles. */
const FLOOR_BLOCK = 10;
const CHILD_TIMEOUT_MS = 540_000;

interface CyclesResult {
  whisperRssBytes: number[];
  embedderRssBytes: number[];
}

/**
 * The child runs both models in one process with the host's allocator
 * settings (HOST_ENV), as the model host does; a native crash ends only it.
 */
function runCycles(
  whisper: string,
  embedding: string,
  options: { cycles: number; leakKb?: number },
): Promise<CyclesResult> {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', '--import', 'tsx', CHILD, '--whisper', whisper];
    args.push('--embedding', embedding, '--cycles', String(options.cycles));
    args.push('--leak-kb', String(options.leakKb ?? 0));
    const child = spawn(
      process.execPath,
      args,
      // Killed if it outlives its test, which does not stop it by timing out.
      {
        cwd: repoRoot,
        env: { ...process.env, ...HOST_ENV },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: CHILD_TIMEOUT_MS,
      },
    );
    let stdout = '';
    let stderrTail = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    // whisper.cpp logs every load; only the tail matters when something fails.
    child.stderr.on('data', (d: Buffer) => (stderrTail = (stderrTail + d).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`native-cycles child ended with ${code ?? signal}:\n${stderrTail}`));
        return;
      }
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as CyclesResult);
    });
  });
}

/**
 * Slope of RSS's floor from `firstCounted` on, MB a cycle: the least-squares
 * slope through the lowest RSS of each block of FLOOR_BLOCK cycles. Freed
 * model memory leaves holes in the allocator's arenas that the next cycles
 * fill or not, so single readings jump by several MB either way (one run
 * read 88 -> 98 MB between cycles 20 and 100 with nothing kept); a leak lifts
 * every block's floor, and holes do not lower a floor that the leak raised.
 */
function slopeMbPerCycle(rssBytes: number[], firstCounted = FIRST_COUNTED_CYCLE): number {
  const cycles: number[] = [];
  const floors: number[] = [];
  for (let start = firstCounted - 1; start + FLOOR_BLOCK <= rssBytes.length; start += FLOOR_BLOCK) {
    const block = rssBytes.slice(start, start + FLOOR_BLOCK);
    cycles.push(start + 1 + (FLOOR_BLOCK - 1) / 2);
    floors.push(Math.min(...block) / 1024 / 1024);
  }
  return slopePerX(cycles, floors);
}

describe('native memory of the models over load/use/free cycles', () => {
  it(`${CYCLES} cycles of the Whisper engine and of the speaker embedder in one process keep RSS flat`, async () => {
    const whisper = await ensureWhisperModel('micro');
    const embedding = await ensureSpeakerEmbeddingModel();
    const result = await runCycles(whisper, embedding, { cycles: CYCLES });
    expect(result.whisperRssBytes).toHaveLength(CYCLES);
    expect(result.embedderRssBytes).toHaveLength(CYCLES);
    const whisperSlope = slopeMbPerCycle(result.whisperRssBytes);
    const embedderSlope = slopeMbPerCycle(result.embedderRssBytes);
    const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
    console.log(
      `native cycles: whisper RSS ${mb(result.whisperRssBytes[0]!)} -> ${mb(result.whisperRssBytes.at(-1)!)} MB, ` +
        `slope ${whisperSlope.toFixed(4)} MB/cycle; embedder RSS ${mb(result.embedderRssBytes[0]!)} -> ` +
        `${mb(result.embedderRssBytes.at(-1)!)} MB, slope ${embedderSlope.toFixed(4)} MB/cycle ` +
        `(cycles ${FIRST_COUNTED_CYCLE}-${CYCLES})`,
    );
    expect(whisperSlope).toBeLessThanOrEqual(MAX_SLOPE_MB_PER_CYCLE);
    expect(embedderSlope).toBeLessThanOrEqual(MAX_SLOPE_MB_PER_CYCLE);
  }, 600_000);

  it('the same measurement sees a leak of 200 KiB a cycle', async () => {
    const whisper = await ensureWhisperModel('micro');
    const embedding = await ensureSpeakerEmbeddingModel();
    // As many cycles as the measurement it controls. A leak first fills the
    // holes that freed model memory left in the allocator's arenas (resident
    // already), and glibc now and then trims the heap's top, a step down of
    // about 5 MB: over 60 cycles one such step hid the whole leak (slope
    // -0.07), over 100 the three trial runs read 0.131-0.204 MB a cycle.
    const result = await runCycles(whisper, embedding, { cycles: CYCLES, leakKb: 200 });
    // 200 KiB = 0.195 MB a cycle, four times the bound.
    expect(slopeMbPerCycle(result.whisperRssBytes)).toBeGreaterThan(MAX_SLOPE_MB_PER_CYCLE);
    expect(slopeMbPerCycle(result.embedderRssBytes)).toBeGreaterThan(MAX_SLOPE_MB_PER_CYCLE);
  }, 600_000);
});
