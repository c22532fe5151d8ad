import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../src/testing/tmp';
import { soxDuration } from './support/audio';
import { runSteno, progressPast, StenoProcess } from './support/steno-cli';
import { requireVirtualMic } from './support/virtual-mic';
import { TEMP_SUFFIX } from '../src/main/temp-files';

const KILLS = 10;

let out: string;
beforeAll(() => {
  requireVirtualMic();
  out = makeTempDir('steno-crash-');
});
afterAll(() => removeTempDir(out));

/** A deterministic spread of kill moments, from right after start to 4 s in. */
function killMoments(n: number, seed = 12345): number[] {
  let s = seed;
  return Array.from({ length: n }, (_, i) => {
    if (i === 0) return 0; // right after the recording started
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return 0.2 + (s / 2 ** 31) * 3.8;
  });
}

describe('kill -9 while recording', () => {
  it(`recovers a playable WAV after each of ${KILLS} kills, within 2 s of what was captured`, async () => {
    const results: { at: number; captured: number; recovered: number }[] = [];
    for (const at of killMoments(KILLS)) {
      const rec = new StenoProcess(['record', '--json', '--out', out]);
      const started = (await rec.waitFor((e) => e.type === 'recording.state')).recording as {
        id: string;
      };
      if (at > 0) await rec.waitFor(progressPast(at));
      // The last progress report before the kill is what had been captured.
      const captured = Number(rec.last('recording.progress')?.elapsedS ?? 0);
      rec.child.kill('SIGKILL');
      const { signal } = await rec.exited;
      expect(signal).toBe('SIGKILL');

      const id = String(started.id);
      const folder = path.join(out, id);
      expect(fs.existsSync(path.join(folder, 'recording.inprogress'))).toBe(true);

      // The next start recovers it.
      const next = await runSteno(['list', '--json', '--out', out]);
      expect(next.code, next.stderr).toBe(0);
      const recovery = next.events.find((e) => e.type === 'recording.recovered') as unknown as {
        recovered: { id: string; durationS: number }[];
      };
      const list = next.events.find((e) => Array.isArray(e.recordings)) as unknown as {
        recordings: { id: string; state: string; durationS: number }[];
      };
      expect(recovery.recovered.map((r) => r.id)).toEqual([id]);
      const meta = list.recordings.find((r) => r.id === id)!;
      expect(meta.state).toBe('recovered');

      const file = path.join(folder, 'audio.wav');
      const recovered = soxDuration(file); // sox opens it: the header is valid
      expect(recovered).toBeCloseTo(meta.durationS, 2);
      // The progress report lags the kill by up to 0.1 s, the audio by up to 2 s.
      expect(recovered).toBeGreaterThanOrEqual(captured - 2);
      expect(recovered).toBeLessThanOrEqual(captured + 0.5);
      expect(fs.existsSync(path.join(folder, 'recording.inprogress'))).toBe(false);
      expect(listFilesRecursive(out).filter((f) => f.endsWith(TEMP_SUFFIX))).toEqual([]);
      results.push({ at, captured, recovered });
    }
    console.log(
      'kill -9 results (captured s -> recovered s):',
      results.map((r) => `${r.captured.toFixed(2)}->${r.recovered.toFixed(2)}`).join(' '),
    );
    expect(results.length).toBe(KILLS);
  }, 180_000);
});
