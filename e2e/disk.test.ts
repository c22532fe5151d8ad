import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listFilesRecursive } from '../src/testing/tmp';
import { soxDuration } from './support/audio';
import { mountSmallFs, type SmallFs } from './support/small-fs';
import { recordingEnd, runSteno } from './support/steno-cli';
import { requireVirtualMic } from './support/virtual-mic';

/**
 * A real small file system to fill up, and a read-only one (tmpfs in a user and
 * mount namespace: no root needed). Failing to mount is a failure, not a skip.
 */
let small: SmallFs | undefined;
beforeAll(() => requireVirtualMic());
afterEach(() => {
  small?.dispose();
  small = undefined;
});

describe('recording onto a real file system that fails', () => {
  it('disk full: the recording stops with DISK_FULL and the WAV holds everything written', async () => {
    // 2 MiB, of which all but 400 KiB (about 4 s of audio) is taken by a filler
    // that is deleted afterwards, as a person would free space.
    small = await mountSmallFs('size=2m');
    const mnt = small.dir;
    const filler = path.join(mnt, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(2048 * 1024 - 400 * 1024, 1));
    const free = fs.statfsSync(mnt);
    expect(free.bavail * free.bsize).toBe(400 * 1024);
    const r = await runSteno(['record', '--json', '--out', mnt, '--seconds', '30']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/disk is full/i);
    expect(r.stderr).toMatch(/DISK_FULL/);
    const stopped = recordingEnd(r.events)!;
    expect(stopped.error?.code).toBe('DISK_FULL');
    const file = (
      r.events.find((e) => e.type === 'recording.state')!.recording as { audioPath: string }
    ).audioPath;
    // sox opens it; it holds nearly all of the 400 KiB (about 4 s of audio).
    const duration = soxDuration(file);
    expect(duration).toBeGreaterThan(3);
    expect(duration).toBeLessThanOrEqual(stopped.capturedS);
    // The next start (after space is freed) finds the recording complete or
    // recovers it, and leaves no temp file.
    fs.rmSync(filler);
    const list = await runSteno(['list', '--json', '--out', mnt]);
    expect(list.code).toBe(0);
    const listed = list.events.find((e) => Array.isArray(e.recordings)) as unknown as {
      recordings: { state: string; durationS: number }[];
    };
    expect(listed.recordings.length).toBe(1);
    expect(['failed', 'recovered']).toContain(listed.recordings[0]!.state);
    expect(listed.recordings[0]!.durationS).toBeCloseTo(soxDuration(file), 1);
    expect(listFilesRecursive(mnt).filter((f) => f.includes('steno-tmp'))).toEqual([]);
  });

  it('read-only folder: the recording refuses to start with DIR_UNWRITABLE', async () => {
    small = await mountSmallFs('size=1m,ro');
    const mnt = small.dir;
    const r = await runSteno([
      'record',
      '--json',
      '--out',
      path.join(mnt, 'recordings'),
      '--seconds',
      '2',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/may not write/);
    expect(r.stderr).toMatch(/DIR_UNWRITABLE/);
    expect(fs.readdirSync(mnt)).toEqual([]);
  });
});
