/**
 * The jobs service: files queued for transcription, run one at a time
 * through FileTranscription, each into a library item of its own (a folder
 * beside the recordings, meta.json saying where the file came from).
 *
 * - Capacity: LIMITS.jobs (500) entries, finished ones included. When adding
 *   to a full queue, the oldest completed entries are dropped first (their
 *   transcripts stay in the library); when none is left to drop, the files
 *   that do not fit are refused with QUEUE_FULL.
 * - Persisted in jobs.json at each change of state: after a crash or a quit
 *   a running job continues from its transcript's last commit record.
 * - One model host at a time (HostSlot): a recording pauses the running job
 *   at its commit point, and the job continues once the recording's
 *   transcript is finished.
 * - Cancel and failure leave nothing of the job but its entry (its folder
 *   goes); a pause keeps the folder to continue from.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Emitter } from '../../core/event';
import { StenoError, fileSystemError, isStenoError, toStenoError } from '../../core/errors';
import { Disposable } from '../../core/lifecycle';
import type { CommandParams, CommandResult } from '../../core/api/commands';
import type { StenoEvent } from '../../core/api/events';
import { LIMITS, type ApiError, type Job, type JobProgress } from '../../core/api/types';
import { sha256File } from '../decoding/file-hash';
import { mediaError } from '../decoding/media-errors';
import { probeMedia, type MediaProbe } from '../decoding/probe';
import { RecordingsStore } from '../recording/recordings-store';
import type { HostLauncher } from '../transcription/host-process';
import { FileTranscription, type FileProgress } from '../transcription/file-transcription';
import { hostConfigFrom } from './host-config';
import type { HostSlot } from './host-slot';
import { loadJobs, saveJobs, type JobRecord } from './jobs-store';
import type { SettingsService } from './settings';

/** Bytes of audio.wav a second of audio takes (16 kHz, 16-bit, mono). */
const DECODED_BYTES_PER_S = 32_000;
/** Free space a job leaves on the disk beyond what it writes (the transcript, the OS). */
export const DISK_MARGIN_BYTES = 256 * 1024 * 1024;
/** How deep folders are searched for media files. */
const MAX_FOLDER_DEPTH = 4;

export interface JobsServiceOptions {
  dataDir: string;
  store: RecordingsStore;
  settings: SettingsService;
  slot: HostSlot;
  hostLauncher?: HostLauncher;
  /** Free bytes on the disk of `dir` (a test passes a full disk). */
  freeBytes?: (dir: string) => Promise<number>;
}

type StopAs = 'cancelled' | 'paused';

interface Running {
  record: JobRecord;
  control: AbortController;
  /** Why the job is being stopped from outside, if it is. */
  stopAs: StopAs | null;
  done: Promise<void>;
}

const FINAL_STATES: ReadonlySet<Job['state']> = new Set(['completed', 'failed', 'cancelled']);

const NO_PROGRESS: JobProgress = {
  fraction: null,
  doneS: 0,
  totalS: null,
  speed: null,
  etaS: null,
};

export class JobsService extends Disposable {
  private readonly eventEmitter = this._register(new Emitter<StenoEvent>());
  readonly onDidEvent = this.eventEmitter.event;
  private running: Running | null = null;
  private started = false;
  private closing = false;
  /** Saves run one after another, each with the queue as it is then. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly opts: JobsServiceOptions,
    /** In queue order (the order they were added). */
    private readonly records: JobRecord[],
    /** Set when jobs.json was unusable and set aside at start. */
    readonly loadProblem: StenoError | null,
  ) {
    super();
    this._register(opts.slot.onDidFree(() => this.pump()));
  }

  /** Loads the queue; jobs stopped by a crash or a quit wait to continue. Call start() to run them. */
  static async load(opts: JobsServiceOptions): Promise<JobsService> {
    const { records, problem } = await loadJobs(opts.dataDir);
    for (const r of records) {
      if (r.job.state === 'running') r.job.state = 'paused';
    }
    const service = new JobsService(opts, records, problem);
    // A crash while a cancelled or failed job's folder was being removed.
    for (const r of records) {
      if (r.job.state === 'cancelled' || r.job.state === 'failed') await service.removeFolder(r);
    }
    return service;
  }

  /**
   * Lets the queue run (a front end that stays up calls it; adding files
   * does too). A short command such as `steno list` never starts a job.
   */
  start(): void {
    this.started = true;
    this.pump();
  }

  list(): CommandResult<'listJobs'> {
    return { jobs: this.records.map((r) => ({ ...r.job })) };
  }

  async add(params: CommandParams<'addJobs'>): Promise<CommandResult<'addJobs'>> {
    if (this.closing) throw closingError();
    const refused: { path: string; error: ApiError }[] = [];
    const probes: MediaProbe[] = [];
    const limit = this.opts.settings.current.maxFileGB * 1e9;
    for (const given of params.paths) {
      for (const found of await this.expand(path.resolve(given), refused)) {
        try {
          const probe = await probeMedia(found.file);
          if (probe.bytes > limit) throw tooLarge(found.file, probe.bytes, limit);
          probes.push(probe);
        } catch (e) {
          // In a folder, what is not media at all (a text file, a cover picture) is passed over.
          if (found.inFolder && isStenoError(e) && e.code === 'MEDIA_UNSUPPORTED') continue;
          refused.push({ path: found.file, error: toStenoError(e, 'adding a file').toJSON() });
        }
      }
    }
    const added: Job[] = [];
    for (const probe of probes) {
      if (!this.makeRoom()) {
        refused.push({
          path: probe.file,
          error: new StenoError(
            'QUEUE_FULL',
            `The queue already holds ${LIMITS.jobs} jobs; ${probe.file} was not added.`,
            'Remove finished or failed jobs (steno jobs remove ID), or wait for some to finish, then add it again.',
          ).toJSON(),
        });
        continue;
      }
      const job: Job = {
        id: RecordingsStore.newId(),
        source: probe.file,
        state: 'queued',
        addedAt: new Date().toISOString(),
        itemId: '',
        ...(params.whisperModel ? { whisperModel: path.resolve(params.whisperModel) } : {}),
        ...(params.language ? { language: params.language } : {}),
        copySource: params.copySource ?? false,
        progress: { ...NO_PROGRESS, totalS: probe.durationS },
        runs: 0,
      };
      // The item is the job's own folder, named like a recording's.
      job.itemId = job.id;
      this.records.push({
        job,
        bytes: probe.bytes,
        mtimeMs: probe.mtimeMs,
        durationS: probe.durationS,
        resumable: false,
      });
      added.push({ ...job });
    }
    if (added.length > 0) {
      this.started = true;
      await this.save();
      for (const job of added) this.fire({ type: 'job.updated', job });
      this.pump();
    }
    return { jobs: added, refused };
  }

  /** Stops a queued, running or paused job; nothing of it remains but its entry. */
  async cancel(id: string): Promise<Job> {
    const record = this.require(id);
    const { state } = record.job;
    if (state !== 'queued' && state !== 'running' && state !== 'paused') {
      throw new StenoError(
        'INVALID_STATE',
        `Job ${id} is ${state}; only a waiting or running job can be cancelled.`,
        state === 'completed' ? 'Delete its item from the library instead.' : 'Retry or remove it.',
      );
    }
    if (this.running?.record === record) {
      await this.stopRunning('cancelled');
      return { ...record.job };
    }
    // Settled before the first await: the queue must not start it meanwhile.
    record.resumable = false;
    this.settle(record, 'cancelled');
    await this.removeFolder(record);
    await this.save();
    this.fireUpdated(record);
    return { ...record.job };
  }

  /** Queues a failed or cancelled job again, from the start. */
  async retry(id: string): Promise<Job> {
    const record = this.require(id);
    if (record.job.state !== 'failed' && record.job.state !== 'cancelled') {
      throw new StenoError(
        'INVALID_STATE',
        `Job ${id} is ${record.job.state}; only a failed or cancelled job can be retried.`,
        'Wait for it to finish, or cancel it first.',
      );
    }
    const { error: _e, endedAt: _end, ...rest } = record.job;
    record.job = {
      ...rest,
      state: 'queued',
      progress: { ...NO_PROGRESS, totalS: record.durationS },
    };
    record.resumable = false;
    await this.save();
    this.fireUpdated(record);
    this.pump();
    return { ...record.job };
  }

  /** Takes a job that is not running off the list; a completed job's item stays in the library. */
  async remove(id: string): Promise<{ id: string }> {
    const record = this.require(id);
    if (record.job.state === 'running' || record.job.state === 'paused') {
      throw new StenoError(
        'INVALID_STATE',
        `Job ${id} is ${record.job.state}.`,
        'Cancel it first, then remove it.',
      );
    }
    // Off the list before the first await: the queue must not start it meanwhile.
    this.records.splice(this.records.indexOf(record), 1);
    if (record.job.state === 'queued') await this.removeFolder(record);
    await this.save();
    this.fire({ type: 'job.removed', id });
    return { id };
  }

  /** Settles when no job is running (for tests). */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running.done;
  }

  /** Resolves with the jobs once each has completed, failed or been cancelled. */
  whenSettled(ids: readonly string[]): Promise<Job[]> {
    const settled = () => {
      const jobs = ids.map((id) => this.records.find((r) => r.job.id === id)?.job);
      return jobs.every((j) => !j || FINAL_STATES.has(j.state))
        ? jobs.filter((j): j is Job => j !== undefined).map((j) => ({ ...j }))
        : null;
    };
    return new Promise((resolve) => {
      const now = settled();
      if (now) return resolve(now);
      const sub = this.onDidEvent((e) => {
        if (e.type !== 'job.updated' && e.type !== 'job.removed') return;
        const done = settled();
        if (!done) return;
        sub.dispose();
        resolve(done);
      });
    });
  }

  /** Quitting: the running job stops at its commit point and continues at the next start. */
  async shutdown(): Promise<void> {
    this.closing = true;
    if (this.running) await this.stopRunning('paused');
    await this.saving;
  }

  private require(id: string): JobRecord {
    const record = this.records.find((r) => r.job.id === id);
    if (!record) {
      throw new StenoError(
        'JOB_NOT_FOUND',
        `There is no job "${id}".`,
        'List the jobs (steno jobs) to see their ids.',
      );
    }
    return record;
  }

  /** Drops the oldest completed entry when the queue is full; false when nothing can go. */
  private makeRoom(): boolean {
    if (this.records.length < LIMITS.jobs) return true;
    const oldest = this.records.findIndex((r) => r.job.state === 'completed');
    if (oldest < 0) return false;
    const [dropped] = this.records.splice(oldest, 1);
    this.fire({ type: 'job.removed', id: dropped!.job.id });
    return true;
  }

  /** The files a path stands for: itself, or the files of a folder (sorted, a few levels deep). */
  private async expand(
    given: string,
    refused: { path: string; error: ApiError }[],
  ): Promise<{ file: string; inFolder: boolean }[]> {
    const stat = await fs.promises.stat(given).catch(() => null);
    if (!stat?.isDirectory()) return [{ file: given, inFolder: false }];
    const files: string[] = [];
    const walk = async (dir: string, depth: number) => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch (e) {
        refused.push({ path: dir, error: mediaError(dir, 'unreadable', e).toJSON() });
        return;
      }
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const entry of entries) {
        if (files.length >= LIMITS.jobs) return;
        if (entry.name.startsWith('.')) continue;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory() && depth < MAX_FOLDER_DEPTH) await walk(full, depth + 1);
        else if (entry.isFile()) files.push(full);
      }
    };
    await walk(given, 0);
    if (files.length === 0) {
      refused.push({
        path: given,
        error: new StenoError(
          'MEDIA_NOT_FOUND',
          `The folder ${given} holds no files.`,
          'Give the audio or video files, or a folder with them in it.',
        ).toJSON(),
      });
    }
    return files.map((file) => ({ file, inFolder: true }));
  }

  /** Paused jobs first (they were running), then the queued ones, in order. */
  private next(): JobRecord | undefined {
    return (
      this.records.find((r) => r.job.state === 'paused') ??
      this.records.find((r) => r.job.state === 'queued')
    );
  }

  private pump(): void {
    if (!this.started || this.running || this.closing || this._store.isDisposed) return;
    const record = this.next();
    if (!record) return;
    const running: Running = {
      record,
      control: new AbortController(),
      stopAs: null,
      done: Promise.resolve(),
    };
    const hold = this.opts.slot.holdForJob(() => this.stopRunning('paused'));
    if (!hold) return;
    this.running = running;
    running.done = this.run(running).finally(() => {
      hold.dispose();
      if (this.running === running) this.running = null;
      this.pump();
    });
  }

  /** Stops the running job (cancel, pause) and waits until its host has ended. */
  private async stopRunning(as: StopAs): Promise<void> {
    const running = this.running;
    if (!running) return;
    // A cancel wins over a pause under way: the job must not come back.
    if (as === 'cancelled' || running.stopAs === null) running.stopAs = as;
    running.control.abort(new StenoError('INVALID_STATE', `The job was ${as}.`, ''));
    await running.done;
  }

  private async run(running: Running): Promise<void> {
    const { record, control } = running;
    const job = record.job;
    job.state = 'running';
    job.startedAt ??= new Date().toISOString();
    job.runs++;
    delete job.error;
    const folder = this.opts.store.dirOf(job.itemId);
    const resume = record.resumable && fs.existsSync(folder);
    await this.save().catch(() => {});
    this.fireUpdated(record);
    let transcription: FileTranscription | null = null;
    try {
      if (!resume) await this.prepareItem(record, folder, control.signal);
      const settings = this.opts.settings.current;
      const config = hostConfigFrom(settings, {
        speakers: 'auto',
        ...(job.whisperModel ? { whisperModel: job.whisperModel } : {}),
        ...(job.language ? { language: job.language } : {}),
      });
      transcription = new FileTranscription({
        source: job.source,
        folder,
        models: config.models,
        options: config.options,
        signal: control.signal,
        resume,
        expect: { size: record.bytes, mtimeMs: record.mtimeMs },
        ...(this.opts.hostLauncher ? { launcher: this.opts.hostLauncher } : {}),
      });
      const meter = new ProgressMeter(record.durationS);
      transcription.onDidProgress((p) => {
        job.progress = meter.update(p);
        this.fire({ type: 'job.progress', id: job.id, progress: { ...job.progress } });
      });
      // From here on, a crash leaves a transcription to continue.
      record.resumable = true;
      await this.save();
      const result = await transcription.run();
      const copy = job.copySource ? await this.copySource(record, folder) : undefined;
      await this.completeItem(record, result.audioS, copy);
      job.progress = { ...meter.finished(result.audioS) };
      record.resumable = false;
      this.settle(record, 'completed');
    } catch (e) {
      const stopAs = running.stopAs;
      if (stopAs === 'paused') {
        job.state = 'paused';
      } else {
        await this.removeFolder(record);
        record.resumable = false;
        if (stopAs === 'cancelled') {
          this.settle(record, 'cancelled');
        } else {
          job.error = toStenoError(e, 'transcribing the file').toJSON();
          this.settle(record, 'failed');
        }
      }
    } finally {
      transcription?.dispose();
    }
    await this.save().catch((e: unknown) =>
      this.fire({
        type: 'error',
        context: 'jobs',
        error: toStenoError(e, 'saving the jobs queue').toJSON(),
      }),
    );
    this.fireUpdated(record);
  }

  /** Checks the disk, hashes the source and makes the item's folder (a fresh one). */
  private async prepareItem(record: JobRecord, folder: string, signal: AbortSignal): Promise<void> {
    const job = record.job;
    const needed =
      (record.durationS ?? 0) * DECODED_BYTES_PER_S +
      (job.copySource ? record.bytes : 0) +
      DISK_MARGIN_BYTES;
    await fs.promises.mkdir(this.opts.store.root, { recursive: true }).catch((e: unknown) => {
      throw fileSystemError(e, this.opts.store.root, 'making the library folder');
    });
    const free = await (this.opts.freeBytes ?? freeBytesOf)(this.opts.store.root);
    if (free < needed) {
      throw new StenoError(
        'DISK_FULL',
        `Transcribing ${job.source} needs about ${gb(needed)} GB on the disk of ${this.opts.store.root}; ${gb(free)} GB are free.`,
        'Free some space (or move the library to a larger disk), then retry the job.',
      );
    }
    const sha256 = await sha256File(job.source, signal);
    await fs.promises.rm(folder, { recursive: true, force: true });
    try {
      await fs.promises.mkdir(folder);
    } catch (e) {
      throw fileSystemError(e, folder, 'making the transcript folder');
    }
    await this.opts.store.writeMeta({
      version: 1,
      id: job.itemId,
      startedAt: new Date(record.mtimeMs).toISOString(),
      device: path.basename(job.source),
      sampleRate: 16_000,
      channels: 1,
      durationS: record.durationS ?? 0,
      state: 'transcribing',
      source: { path: job.source, bytes: record.bytes, sha256, mtimeMs: record.mtimeMs },
    });
  }

  private async completeItem(record: JobRecord, audioS: number, copy?: string): Promise<void> {
    const meta = await this.opts.store.readMeta(record.job.itemId);
    if (!meta?.source) {
      throw new StenoError(
        'WRITE_FAILED',
        `The details of the transcript of ${record.job.source} are gone from its folder.`,
        'Retry the job.',
      );
    }
    await this.opts.store.writeMeta({
      ...meta,
      durationS: audioS,
      endedAt: new Date().toISOString(),
      state: 'complete',
      source: { ...meta.source, ...(copy ? { copy } : {}) },
    });
  }

  /** Copies the source into the item's folder (keeping its extension), atomically. */
  private async copySource(record: JobRecord, folder: string): Promise<string> {
    const dest = path.join(folder, `source${path.extname(record.job.source).slice(0, 16)}`);
    const tmp = `${dest}.partial`;
    try {
      await fs.promises.copyFile(record.job.source, tmp);
      await fs.promises.rename(tmp, dest);
    } catch (e) {
      await fs.promises.rm(tmp, { force: true });
      throw fileSystemError(e, dest, 'copying the file into the library');
    }
    return dest;
  }

  private async removeFolder(record: JobRecord): Promise<void> {
    if (!record.job.itemId) return;
    const folder = this.opts.store.dirOf(record.job.itemId);
    await fs.promises.rm(folder, { recursive: true, force: true }).catch(() => {});
  }

  private settle(record: JobRecord, state: 'completed' | 'failed' | 'cancelled'): void {
    record.job.state = state;
    record.job.endedAt = new Date().toISOString();
  }

  private save(): Promise<void> {
    const done = this.saving.then(() => saveJobs(this.opts.dataDir, this.records));
    this.saving = done.catch(() => {});
    return done;
  }

  private fireUpdated(record: JobRecord): void {
    this.fire({ type: 'job.updated', job: { ...record.job } });
  }

  private fire(event: StenoEvent): void {
    this.eventEmitter.fire(event);
  }
}

/** Turns a run's FileProgress into the job's: fraction, speed and time left. */
class ProgressMeter {
  private readonly startedMs = performance.now();
  private startS: number | null = null;

  constructor(private readonly probedS: number | null) {}

  update(p: FileProgress): JobProgress {
    const totalS = p.totalS ?? this.probedS;
    // A resumed run starts at its commit point: its speed counts from there.
    this.startS ??= p.transcribedS;
    const wallS = (performance.now() - this.startedMs) / 1000;
    const doneThisRun = p.transcribedS - this.startS;
    const speed = wallS >= 1 && doneThisRun > 0 ? doneThisRun / wallS : null;
    const fraction = totalS ? Math.min(1, p.transcribedS / totalS) : null;
    return {
      fraction,
      doneS: p.transcribedS,
      totalS,
      speed,
      etaS: speed && totalS ? Math.max(0, totalS - p.transcribedS) / speed : null,
    };
  }

  finished(audioS: number): JobProgress {
    const wallS = (performance.now() - this.startedMs) / 1000;
    const done = audioS - (this.startS ?? 0);
    return {
      fraction: 1,
      doneS: audioS,
      totalS: audioS,
      speed: wallS > 0 && done > 0 ? done / wallS : null,
      etaS: 0,
    };
  }
}

function tooLarge(file: string, bytes: number, limit: number): StenoError {
  return new StenoError(
    'MEDIA_TOO_LARGE',
    `${file} is ${gb(bytes)} GB, more than the limit of ${gb(limit)} GB.`,
    'Raise the limit in the settings (maxFileGB) if you mean to transcribe it, or cut the file into parts.',
  );
}

function closingError(): StenoError {
  return new StenoError(
    'INVALID_STATE',
    'Steno is shutting down; no files can be added now.',
    'Start Steno again and add them.',
  );
}

function gb(bytes: number): string {
  return (bytes / 1e9).toFixed(bytes < 1e9 ? 2 : 1);
}

async function freeBytesOf(dir: string): Promise<number> {
  try {
    const s = await fs.promises.statfs(dir);
    return s.bavail * s.bsize;
  } catch (e) {
    throw fileSystemError(e, dir, 'checking the free disk space');
  }
}
