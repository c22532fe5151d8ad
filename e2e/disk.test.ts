import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../src/testing/tmp';
import { soxDuration } from './support/audio';
import { recordingEnd, runSteno } from './support/steno-cli';
import { requireVirtualMic } from './support/virtual-mic';

/**
 * A real small file system (tmpfs, needs root as in CI) to fill up, and a
 * read-only one. Failing to mount is a failure, not a skip.
 */
function mountTmpfs(dir: string, options: string): void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  } catch (e) {
    throw new Error(`these tests mount a small tmpfs and need root: ${(e as Error).message}`);
  }
}

let mnt: string;
beforeAll(() => requireVirtualMic());
beforeEach(() => {
  mnt = makeTempDir('steno-disk-');
});
afterEach(() => {
  try {
    execFileSync('umount', [mnt]);
  } catch {
    // not mounted (the test failed before mounting)
  }
  removeTempDir(mnt);
});

describe('recording onto a real file system that fails', () => {
  it('disk full: the recording stops with DISK_FULL and the WAV holds everything written', async () => {
    mountTmpfs(mnt, 'size=400k');
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
    execFileSync('mount', ['-o', 'remount,size=2m', mnt]);
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
    mountTmpfs(mnt, 'size=1m,ro');
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
