import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { StenoError, fileSystemError } from '../../core/errors';
import { writeFileAtomic } from '../temp-files';
import type { FileSource, StopReason } from '../../core/api/types';

/**
 * One folder per recording under a recordings directory:
 *   <root>/<id>/audio.wav        the audio (append-only while recording)
 *   <root>/<id>/meta.json        RecordingMeta, replaced atomically
 *   <root>/<id>/recording.inprogress  present while a process records into it;
 *                                holds that process's pid
 */
export type RecordingState =
  | 'recording'
  | 'paused'
  | 'complete'
  | 'recovered'
  | 'failed'
  /** A transcribed file's item while its job runs or waits to continue. */
  | 'transcribing';

export interface RecordingMeta {
  version: 1;
  id: string;
  /** ISO 8601 time the recording started. */
  startedAt: string;
  endedAt?: string;
  device: string;
  sampleRate: number;
  channels: number;
  /** Seconds of audio in audio.wav. */
  durationS: number;
  state: RecordingState;
  /** Set when recovery rebuilt the recording after a crash. */
  recoveredAt?: string;
  /** Why the recording ended: the person, an auto-stop setting, an error, the app quitting. */
  stopReason?: StopReason;
  error?: { code: string; message: string; action: string };
  /** A transcribed file: where it came from (startedAt is then the file's modification time). */
  source?: FileSource;
}

export const AUDIO_FILE = 'audio.wav';
export const META_FILE = 'meta.json';
export const MARKER_FILE = 'recording.inprogress';

export class RecordingsStore {
  constructor(readonly root: string) {}

  dirOf(id: string): string {
    if (!/^[A-Za-z0-9_-]+$/.test(id)) {
      throw new StenoError(
        'INVALID_ARGUMENT',
        `"${id}" is not a recording id.`,
        'Use an id from `steno list`.',
      );
    }
    return path.join(this.root, id);
  }

  audioPath(id: string): string {
    return path.join(this.dirOf(id), AUDIO_FILE);
  }

  /** A new id that sorts by start time: 20261123-195001-1a2b3c. */
  static newId(now = new Date()): string {
    const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    return `${stamp}-${crypto.randomBytes(3).toString('hex')}`;
  }

  /** Creates the folder and the in-progress marker for a new recording. */
  async create(id: string): Promise<string> {
    const dir = this.dirOf(id);
    try {
      await mkdirEachLevel(this.root);
      await fs.promises.mkdir(dir);
      await fs.promises.writeFile(path.join(dir, MARKER_FILE), `${process.pid}\n`, { flag: 'wx' });
    } catch (e) {
      await fs.promises.rm(dir, { recursive: true, force: true }).catch(() => {});
      throw fileSystemError(e, this.root, 'creating the recording folder');
    }
    return dir;
  }

  /**
   * Makes the folder of a recording again after it vanished while recording,
   * so that what the open file still holds can be saved. No marker: nothing
   * records into it any more. Only the folder itself: if the recordings
   * directory is gone too (a drive unplugged, its mount point left), nothing
   * is made on whatever disk lies beneath. `created` is false when the folder
   * was there (only the audio file was removed).
   */
  async recreate(id: string): Promise<{ dir: string; created: boolean }> {
    const dir = this.dirOf(id);
    try {
      await fs.promises.mkdir(dir);
      return { dir, created: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { dir, created: false };
      throw fileSystemError(e, dir, 'making the recording folder again');
    }
  }

  async writeMeta(meta: RecordingMeta): Promise<void> {
    const file = path.join(this.dirOf(meta.id), META_FILE);
    try {
      await writeFileAtomic(file, JSON.stringify(meta, null, 2) + '\n');
    } catch (e) {
      throw fileSystemError(e, file, 'saving the recording details');
    }
  }

  async readMeta(id: string): Promise<RecordingMeta | null> {
    try {
      const text = await fs.promises.readFile(path.join(this.dirOf(id), META_FILE), 'utf8');
      return JSON.parse(text) as RecordingMeta;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || e instanceof SyntaxError) return null;
      throw e;
    }
  }

  async removeMarker(id: string): Promise<void> {
    await fs.promises.rm(path.join(this.dirOf(id), MARKER_FILE), { force: true });
  }

  /** The pid written in the marker, or null when there is no marker. */
  async markerPid(id: string): Promise<number | null> {
    try {
      const text = await fs.promises.readFile(path.join(this.dirOf(id), MARKER_FILE), 'utf8');
      const pid = Number.parseInt(text.trim(), 10);
      return Number.isFinite(pid) ? pid : 0;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Ids of the recording folders, oldest first. */
  async listIds(): Promise<string[]> {
    try {
      const entries = await fs.promises.readdir(this.root, { withFileTypes: true });
      return entries
        .filter((e) => e.isDirectory() && /^[A-Za-z0-9_-]+$/.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fileSystemError(e, this.root, 'listing recordings');
    }
  }

  async list(): Promise<RecordingMeta[]> {
    const out: RecordingMeta[] = [];
    for (const id of await this.listIds()) {
      const meta = await this.readMeta(id);
      if (meta) out.push(meta);
    }
    return out;
  }
}

/**
 * `mkdir -p`, one level at a time: Node's recursive mkdir reports ENOENT for a
 * parent on a read-only file system, where the true cause (EROFS, EACCES,
 * ENOTDIR) is what tells a person what to do.
 */
async function mkdirEachLevel(dir: string): Promise<void> {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    try {
      const st = await fs.promises.stat(current);
      if (!st.isDirectory()) {
        const e = new Error(`${current} is not a directory`) as NodeJS.ErrnoException;
        e.code = 'ENOTDIR';
        throw e;
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      missing.push(current);
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }
  for (const level of missing.reverse()) {
    await fs.promises.mkdir(level).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}
