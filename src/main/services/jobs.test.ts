import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StenoEvent } from '../../core/api/events';
import type { Job } from '../../core/api/types';
import { ensureMediaFixture, MEDIA_FIXTURES } from '../../testing/media-fixtures';
import { descendants } from '../../testing/process-tree';
import { testModels } from '../../testing/test-models';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { RecordingsStore } from '../recording/recordings-store';
import { loadTranscript } from '../transcription/transcript-store';
import { HostSlot } from './host-slot';
import { JobsService, type JobsServiceOptions } from './jobs';
import { JOBS_FILE } from './jobs-store';
import { SettingsService } from './settings';

let dir: string;
let store: RecordingsStore;
let settings: SettingsService;
let slot: HostSlot;
const services: JobsService[] = [];

beforeEach(async () => {
  dir = makeTempDir('steno-jobs-');
  store = new RecordingsStore(path.join(dir, 'recordings'));
  settings = await SettingsService.load(dir);
  const models = await testModels();
  settings.override({
    whisperModel: models.whisper,
    embeddingModel: models.embedding,
    whisperThreads: 1,
    maxTokens: 32,
    partials: false,
  });
  slot = new HostSlot();
});

afterEach(async () => {
  for (const s of services.splice(0)) {
    await s.shutdown();
    s.dispose();
  }
  slot.dispose();
  settings.dispose();
  removeTempDir(dir);
});

async function open(extra: Partial<JobsServiceOptions> = {}): Promise<JobsService> {
  const jobs = await JobsService.load({ dataDir: dir, store, settings, slot, ...extra });
  services.push(jobs);
  return jobs;
}

const fixture = (name: string) => ensureMediaFixture(MEDIA_FIXTURES.find((f) => f.name === name)!);

/** The 6 s speech fixture looped `times` times into one FLAC (about 6 s of speech each). */
function looped(times: number, name = 'long.flac'): string {
  const out = path.join(dir, name);
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-stream_loop',
    String(times - 1),
    '-i',
    fixture('stereo.flac'),
    '-c',
    'copy',
    out,
  ]);
  return out;
}

function events(jobs: JobsService): StenoEvent[] {
  const seen: StenoEvent[] = [];
  jobs.onDidEvent((e) => seen.push(e));
  return seen;
}

/** Resolves with the first job.updated of `id` in `state`. */
function nextState(jobs: JobsService, id: string, state: Job['state']): Promise<Job> {
  return new Promise((resolve) => {
    const sub = jobs.onDidEvent((e) => {
      if (e.type === 'job.updated' && e.job.id === id && e.job.state === state) {
        sub.dispose();
        resolve(e.job);
      }
    });
  });
}

/** Resolves at the first progress of `id` past `doneS` seconds. */
function progressPast(jobs: JobsService, id: string, doneS: number): Promise<void> {
  return new Promise((resolve) => {
    const sub = jobs.onDidEvent((e) => {
      if (e.type === 'job.progress' && e.id === id && e.progress.doneS > doneS) {
        sub.dispose();
        resolve();
      }
    });
  });
}

describe('JobsService (real decoders and the real model host)', () => {
  it('transcribes a file into a library item with its source, hash, duration and progress', async () => {
    const jobs = await open();
    const seen = events(jobs);
    jobs.start();
    const mp3 = fixture('stereo.mp3');
    const { jobs: added, refused } = await jobs.add({ paths: [mp3] });
    expect(refused).toEqual([]);
    expect(added).toHaveLength(1);
    // The probe knew the length before decoding (a CBR MP3: from its bitrate).
    expect(added[0]!.progress.totalS).toBeCloseTo(6, 0);
    const [job] = await jobs.whenSettled([added[0]!.id]);
    expect(job!.state).toBe('completed');
    expect(job!.progress.fraction).toBe(1);

    const meta = await store.readMeta(job!.itemId);
    expect(meta).toMatchObject({ state: 'complete', durationS: 6 });
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(mp3)).digest('hex');
    expect(meta!.source).toEqual({
      path: mp3,
      bytes: fs.statSync(mp3).size,
      sha256,
      mtimeMs: fs.statSync(mp3).mtimeMs,
    });
    const transcript = await loadTranscript(store.dirOf(job!.itemId));
    expect(transcript.segments.map((s) => s.text).join(' ')).toContain('Steno heard this.');

    const progress = seen.filter((e) => e.type === 'job.progress');
    expect(progress.length).toBeGreaterThan(0);
    const states = seen.flatMap((e) => (e.type === 'job.updated' ? [e.job.state] : []));
    expect(states).toEqual(['queued', 'running', 'completed']);
    // Saved: a new service over the same data directory lists the finished job.
    const again = await open();
    expect(again.list().jobs.map((j) => [j.id, j.state])).toEqual([[job!.id, 'completed']]);
    expect(descendants(process.pid)).toEqual([]);
  }, 60_000);

  it('refuses what cannot be transcribed, each with its reason, and queues the rest', async () => {
    const jobs = await open();
    const notMedia = path.join(dir, 'minutes.m4a');
    fs.writeFileSync(notMedia, 'Minutes: nothing was decided.\n'.repeat(100));
    const empty = path.join(dir, 'empty.wav');
    fs.writeFileSync(empty, '');
    const folder = path.join(dir, 'drop');
    fs.mkdirSync(folder);
    fs.copyFileSync(fixture('voice.opus'), path.join(folder, 'a.opus'));
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'agenda\n');
    const emptyFolder = path.join(dir, 'nothing-here');
    fs.mkdirSync(emptyFolder);
    const missing = path.join(dir, 'gone.mp3');

    const { jobs: added, refused } = await jobs.add({
      paths: [notMedia, empty, missing, folder, emptyFolder],
    });
    // The folder's media file is queued; its text file is passed over.
    expect(added.map((j) => j.source)).toEqual([path.join(folder, 'a.opus')]);
    const reasons = Object.fromEntries(refused.map((r) => [r.path, r.error]));
    expect(Object.keys(reasons).sort()).toEqual([emptyFolder, empty, missing, notMedia].sort());
    expect(reasons[notMedia]).toMatchObject({ code: 'MEDIA_UNSUPPORTED' });
    expect(reasons[notMedia]!.message).toContain('not an audio or video format');
    expect(reasons[empty]).toMatchObject({ code: 'MEDIA_CORRUPT' });
    expect(reasons[empty]!.message).toContain('empty');
    expect(reasons[missing]).toMatchObject({ code: 'MEDIA_NOT_FOUND' });
    expect(reasons[emptyFolder]!.message).toContain('holds no files');
    for (const r of refused) expect(r.error.action.length).toBeGreaterThan(10);
  });

  it('refuses a file over the size limit before queuing it', async () => {
    settings.override({ ...settings.current, maxFileGB: 0.00001 });
    const jobs = await open();
    const { jobs: added, refused } = await jobs.add({ paths: [fixture('stereo.flac')] });
    expect(added).toEqual([]);
    expect(refused[0]!.error.code).toBe('MEDIA_TOO_LARGE');
    expect(refused[0]!.error.message).toContain('more than the limit of 0.00 GB');
  });

  it('a job that cannot fit on the disk fails before work starts, leaving nothing behind', async () => {
    const jobs = await open({ freeBytes: () => Promise.resolve(10 * 1024 * 1024) });
    jobs.start();
    const { jobs: added } = await jobs.add({ paths: [fixture('stereo.flac')] });
    const [job] = await jobs.whenSettled([added[0]!.id]);
    expect(job!.state).toBe('failed');
    expect(job!.error).toMatchObject({ code: 'DISK_FULL' });
    expect(job!.error!.message).toMatch(/needs about 0\.\d+ GB .*; 0\.01 GB are free/);
    expect(fs.existsSync(store.dirOf(job!.itemId))).toBe(false);
  }, 30_000);

  it('a damaged file fails with its reason, nothing of it remains, and the next job still runs', async () => {
    const jobs = await open();
    jobs.start();
    // A valid FLAC header, then garbage: found only while decoding.
    const good = fs.readFileSync(fixture('stereo.flac'));
    const damaged = path.join(dir, 'damaged.flac');
    fs.writeFileSync(
      damaged,
      Buffer.concat([good.subarray(0, 8192), crypto.randomBytes(good.length)]),
    );
    const { jobs: added } = await jobs.add({ paths: [damaged, fixture('stereo.ogg')] });
    const [bad, next] = await jobs.whenSettled(added.map((j) => j.id));
    expect(bad!.state).toBe('failed');
    expect(bad!.error!.code).toBe('MEDIA_CORRUPT');
    expect(bad!.error!.message).toContain(damaged);
    expect(fs.existsSync(store.dirOf(bad!.itemId))).toBe(false);
    expect(next!.state).toBe('completed');
    expect(descendants(process.pid)).toEqual([]);
  }, 60_000);

  it('a source replaced after it was added is refused, not transcribed', async () => {
    const jobs = await open();
    const file = path.join(dir, 'memo.ogg');
    fs.copyFileSync(fixture('stereo.ogg'), file);
    // A recording holds the model host, so the job waits while the file is replaced.
    const recording = await slot.takeForRecording();
    const { jobs: added } = await jobs.add({ paths: [file] });
    fs.copyFileSync(fixture('voice.opus'), file);
    recording.dispose();
    const [job] = await jobs.whenSettled([added[0]!.id]);
    expect(job!.state).toBe('failed');
    expect(job!.error!.message).toContain('was changed or replaced after it was added');
  }, 30_000);

  it('cancel stops the host within a second and leaves only the entry; retry then completes', async () => {
    const jobs = await open();
    jobs.start();
    const long = looped(20);
    const { jobs: added } = await jobs.add({ paths: [long] });
    const id = added[0]!.id;
    await progressPast(jobs, id, 6);
    const startedAt = performance.now();
    const cancelled = await jobs.cancel(id);
    const stopMs = performance.now() - startedAt;
    expect(cancelled.state).toBe('cancelled');
    expect(stopMs).toBeLessThan(1000);
    expect(descendants(process.pid)).toEqual([]);
    expect(fs.existsSync(store.dirOf(cancelled.itemId))).toBe(false);
    expect(jobs.list().jobs.map((j) => j.state)).toEqual(['cancelled']);

    await jobs.retry(id);
    const [done] = await jobs.whenSettled([id]);
    expect(done!.state).toBe('completed');
    expect(done!.runs).toBe(2);
    await jobs.remove(id);
    expect(jobs.list().jobs).toEqual([]);
    // Removing the entry leaves the transcript in the library.
    expect(await store.readMeta(done!.itemId)).toMatchObject({ state: 'complete' });
  }, 120_000);

  it('a recording pauses the running job at its commit point; it continues after, each utterance once', async () => {
    const jobs = await open();
    jobs.start();
    const long = looped(10);
    const { jobs: added } = await jobs.add({ paths: [long] });
    const id = added[0]!.id;
    await progressPast(jobs, id, 12);
    const paused = nextState(jobs, id, 'paused');
    const recording = await slot.takeForRecording();
    expect((await paused).state).toBe('paused');
    // The job's host is gone while the recording holds the slot.
    expect(descendants(process.pid)).toEqual([]);
    const resumed = nextState(jobs, id, 'running');
    recording.dispose();
    await resumed;
    const [job] = await jobs.whenSettled([id]);
    expect(job!.state).toBe('completed');
    expect(job!.runs).toBe(2);

    // Against the same file transcribed without a pause.
    const { jobs: reference } = await jobs.add({ paths: [looped(10, 'reference.flac')] });
    const [ref] = await jobs.whenSettled([reference[0]!.id]);
    const resumedSegments = (await loadTranscript(store.dirOf(job!.itemId))).segments;
    const referenceSegments = (await loadTranscript(store.dirOf(ref!.itemId))).segments;
    expectEachUtteranceOnce(resumedSegments, referenceSegments);
  }, 180_000);

  it('after a restart, a job that was running continues from its commit point', async () => {
    const first = await open();
    first.start();
    const { jobs: added } = await first.add({ paths: [looped(10)] });
    const id = added[0]!.id;
    await progressPast(first, id, 12);
    // A quit: the job stops where it is committed.
    await first.shutdown();
    const saved = JSON.parse(fs.readFileSync(path.join(dir, JOBS_FILE), 'utf8')) as {
      jobs: { job: Job }[];
    };
    expect(saved.jobs[0]!.job.state).toBe('paused');

    const second = await open();
    const seen = events(second);
    second.start();
    const [job] = await second.whenSettled([id]);
    expect(job!.state).toBe('completed');
    // It went on from its commit point: its first progress was past the start.
    const firstProgress = seen.find((e) => e.type === 'job.progress');
    expect(firstProgress?.type === 'job.progress' && firstProgress.progress.doneS).toBeGreaterThan(
      6,
    );
  }, 180_000);

  it('a full queue refuses new files; completed entries make room first', async () => {
    const file = fixture('voice.opus');
    const stat = fs.statSync(file);
    const record = (i: number, state: Job['state']) => ({
      job: {
        id: `20260101-000000-${String(i).padStart(6, '0')}`,
        source: file,
        state,
        addedAt: new Date(0).toISOString(),
        itemId: `20260101-000000-${String(i).padStart(6, '0')}`,
        copySource: false,
        progress: { fraction: null, doneS: 0, totalS: null, speed: null, etaS: null },
        runs: 0,
      },
      bytes: stat.size,
      mtimeMs: stat.mtimeMs,
      durationS: null,
      resumable: false,
    });
    const write = (records: unknown[]) =>
      fs.writeFileSync(path.join(dir, JOBS_FILE), JSON.stringify({ version: 1, jobs: records }));

    write(Array.from({ length: 500 }, (_, i) => record(i, 'failed')));
    const full = await open();
    const refused = await full.add({ paths: [file] });
    expect(refused.jobs).toEqual([]);
    expect(refused.refused[0]!.error.code).toBe('QUEUE_FULL');
    expect(refused.refused[0]!.error.message).toContain('500 jobs');
    await full.shutdown();

    write(Array.from({ length: 500 }, (_, i) => record(i, i < 2 ? 'completed' : 'failed')));
    const roomy = await open();
    const seen = events(roomy);
    const added = await roomy.add({ paths: [file] });
    expect(added.jobs).toHaveLength(1);
    expect(roomy.list().jobs).toHaveLength(500);
    expect(seen.filter((e) => e.type === 'job.removed')).toEqual([
      { type: 'job.removed', id: '20260101-000000-000000' },
    ]);
  });

  it('a damaged jobs file is set aside with a notice, and the queue starts empty', async () => {
    fs.writeFileSync(path.join(dir, JOBS_FILE), '{"version":1,"jobs":[{"job":');
    const jobs = await open();
    expect(jobs.list().jobs).toEqual([]);
    expect(jobs.loadProblem?.message).toContain('is not valid JSON');
    expect(fs.readdirSync(dir).some((f) => f.startsWith(`${JOBS_FILE}.corrupt-`))).toBe(true);
  });
});

/**
 * Every utterance of the reference transcript is in `segments` exactly once:
 * one segment covers its middle, and no two segments overlap.
 */
function expectEachUtteranceOnce(
  segments: { startS: number; endS: number }[],
  reference: { startS: number; endS: number }[],
): void {
  expect(reference.length).toBeGreaterThan(3);
  for (let i = 1; i < segments.length; i++) {
    expect(segments[i]!.startS).toBeGreaterThanOrEqual(segments[i - 1]!.endS - 0.05);
  }
  for (const r of reference) {
    const middle = (r.startS + r.endS) / 2;
    const covering = segments.filter((s) => s.startS <= middle && middle <= s.endS);
    expect(covering, `utterance at ${middle.toFixed(2)} s`).toHaveLength(1);
  }
}
