import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNaudiodonCapture } from '../src/main/capture/naudiodon-capture';
import { RecordingsStore } from '../src/main/recording/recordings-store';
import { RecordingSession } from '../src/main/recording/session';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../src/testing/tmp';
import { soxDuration } from './support/audio';
import { requireVirtualMic } from './support/virtual-mic';

let out: string;
beforeAll(() => {
  requireVirtualMic();
  out = makeTempDir('steno-cycles-');
});
afterAll(() => removeTempDir(out));

describe('20 start/stop cycles on the real (virtual) microphone', () => {
  it('every cycle gives a complete, readable recording; nothing is left open', async () => {
    const store = new RecordingsStore(out);
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 20; i++) {
      const session = await RecordingSession.start({ store, capture: openNaudiodonCapture() });
      await new Promise((r) => setTimeout(r, 400));
      const meta = await session.stop();
      session.dispose();
      expect(meta.state, `cycle ${i}`).toBe('complete');
      expect(meta.durationS, `cycle ${i}`).toBeGreaterThan(0.2);
      expect(soxDuration(store.audioPath(meta.id))).toBeCloseTo(meta.durationS, 2);
    }
    expect((await store.list()).length).toBe(20);
    expect(
      listFilesRecursive(out).filter((f) => f.includes('inprogress') || f.includes('steno-tmp')),
    ).toEqual([]);
    // PortAudio may keep a descriptor or two of its own; none per cycle.
    expect(fs.readdirSync('/proc/self/fd').length - fdsBefore).toBeLessThanOrEqual(2);
  }, 120_000);
});
