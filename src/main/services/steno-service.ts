/**
 * The application's services behind one door: what every front end (CLI,
 * Electron, `steno serve`) holds. It composes the recorder, library,
 * settings and metrics, answers every command of the API through one
 * dispatcher, and merges their events into one stream.
 */
import path from 'node:path';
import { Emitter } from '../../core/event';
import { Disposable } from '../../core/lifecycle';
import type { StenoError } from '../../core/errors';
import type { ApiBackend, CallOutcome } from '../../core/api/backend';
import type { StenoEvent } from '../../core/api/events';
import { API_VERSION } from '../../core/api/version';
import type { AppState } from '../../core/api/types';
import type { CommandResult } from '../../core/api/commands';
import { listDevices, openNaudiodonCapture } from '../capture/naudiodon-capture';
import { defaultDataDir } from '../paths';
import { RecordingsStore } from '../recording/recordings-store';
import { recoverRecordings, type RecoveryReport } from '../recording/recovery';
import type { HostLauncher } from '../transcription/host-process';
import { dispatchCommand, type CommandHandlers } from './api-dispatcher';
import { HostSlot } from './host-slot';
import { JobsService } from './jobs';
import { LibraryService, toSummary } from './library';
import { MetricsService, processRssBytes } from './metrics';
import { RecorderService, type CaptureProvider, type RecorderServiceOptions } from './recorder';
import { SettingsService } from './settings';

export interface StenoServiceOptions {
  /** Settings and models live here (default: $STENO_HOME or the platform's data folder). */
  dataDir?: string;
  /** Recordings live here (default: <dataDir>/recordings). */
  recordingsDir?: string;
  /** The microphone (default: naudiodon). Tests and benchmarks pass files or generators. */
  capture?: CaptureProvider;
  hostLauncher?: HostLauncher;
  /** The app's version, for appInfo (default: package.json's, as the CLI knows it). */
  version?: string;
  metricsIntervalMs?: number;
  supervisor?: RecorderServiceOptions['supervisor'];
  session?: RecorderServiceOptions['session'];
  speakerTuning?: RecorderServiceOptions['speakerTuning'];
}

export const naudiodonCapture: CaptureProvider = {
  listDevices,
  open: (options) => openNaudiodonCapture(options),
};

export class StenoService extends Disposable implements ApiBackend {
  private readonly eventEmitter = this._register(new Emitter<StenoEvent>());
  readonly onDidEvent = this.eventEmitter.event;
  readonly recorder: RecorderService;
  readonly library: LibraryService;
  /** File jobs: run only once a front end that stays up calls `jobs.start()`. */
  readonly jobs: JobsService;
  readonly metrics: MetricsService;
  private readonly handlers: CommandHandlers;

  private constructor(
    readonly settings: SettingsService,
    readonly store: RecordingsStore,
    /** What startup recovery did (recordings left by a crash, made playable again). */
    readonly recovery: RecoveryReport,
    slot: HostSlot,
    jobs: JobsService,
    options: StenoServiceOptions,
  ) {
    super();
    this._register(settings);
    this._register(slot);
    this.jobs = this._register(jobs);
    this.recorder = this._register(
      new RecorderService({
        store,
        settings,
        hostSlot: slot,
        capture: options.capture ?? naudiodonCapture,
        ...(options.hostLauncher ? { hostLauncher: options.hostLauncher } : {}),
        ...(options.supervisor ? { supervisor: options.supervisor } : {}),
        ...(options.session ? { session: options.session } : {}),
        ...(options.speakerTuning ? { speakerTuning: options.speakerTuning } : {}),
      }),
    );
    this.library = this._register(new LibraryService(store, () => this.recorder.live?.id ?? null));
    this.metrics = this._register(
      new MetricsService(this.recorder, store.root, options.metricsIntervalMs),
    );
    const fire = (e: StenoEvent) => this.eventEmitter.fire(e);
    this._register(this.recorder.onDidEvent(fire));
    this._register(this.jobs.onDidEvent(fire));
    this._register(this.metrics.onDidSample((metrics) => fire({ type: 'metrics', metrics })));
    this._register(
      this.settings.onDidChange((s) => fire({ type: 'settings.changed', settings: s })),
    );
    this._register(this.library.onDidDelete((id) => fire({ type: 'recording.deleted', id })));
    this._register(this.library.onDidRenameSpeaker((r) => fire({ type: 'speaker.renamed', ...r })));
    const version = options.version ?? '0.0.0';
    this.handlers = {
      appInfo: () => ({
        version,
        apiVersion: API_VERSION,
        platform: process.platform,
        recordingsDir: store.root,
      }),
      getState: () => this.currentState(),
      listDevices: () => this.recorder.listDevices(),
      startRecording: (p) => this.recorder.start(p),
      pauseRecording: () => this.recorder.pause(),
      resumeRecording: () => this.recorder.resume(),
      stopRecording: () => this.recorder.stop('user'),
      listRecordings: (p) => this.library.list(p.offset, p.limit),
      getRecording: (p) => this.library.get(p.id),
      deleteRecording: (p) => this.library.delete(p.id),
      getTranscript: (p) => this.library.transcript(p.id, p.offset, p.limit),
      renameSpeaker: (p) => this.library.renameSpeaker(p.id, p.speaker, p.name),
      getSettings: () => this.settings.current,
      setSettings: (p) => this.settings.update(p.settings),
      unloadModels: () => this.unloadModels(),
      addJobs: (p) => this.jobs.add(p),
      listJobs: () => this.jobs.list(),
      cancelJob: (p) => this.jobs.cancel(p.id),
      retryJob: (p) => this.jobs.retry(p.id),
      removeJob: (p) => this.jobs.remove(p.id),
    };
  }

  /** Loads settings, runs startup recovery, and starts the services. */
  static async create(options: StenoServiceOptions = {}): Promise<StenoService> {
    const dataDir = path.resolve(options.dataDir ?? defaultDataDir());
    const store = new RecordingsStore(
      path.resolve(options.recordingsDir ?? path.join(dataDir, 'recordings')),
    );
    const settings = await SettingsService.load(dataDir);
    let recovery: RecoveryReport;
    const slot = new HostSlot();
    let jobs: JobsService;
    try {
      recovery = await recoverRecordings(store);
      jobs = await JobsService.load({
        dataDir,
        store,
        settings,
        slot,
        ...(options.hostLauncher ? { hostLauncher: options.hostLauncher } : {}),
      });
    } catch (e) {
      settings.dispose();
      slot.dispose();
      throw e;
    }
    return new StenoService(settings, store, recovery, slot, jobs, options);
  }

  call(command: unknown, params: unknown): Promise<CallOutcome> {
    return dispatchCommand(this.handlers, command, params);
  }

  currentState(): AppState {
    return {
      recording: this.recorder.live,
      hostState: this.recorder.hostState,
      settings: this.settings.current,
      metrics: this.metrics.latest,
      ...(this.notices.length > 0 ? { notices: this.notices.map((n) => n.toJSON()) } : {}),
    };
  }

  /** Problems found at start-up: a settings file or jobs queue that was set aside. */
  private get notices(): StenoError[] {
    return [this.settings.loadProblem, this.jobs.loadProblem].filter(
      (n): n is StenoError => n !== null,
    );
  }

  /** The startup recovery as the API's event (for a front end to show). */
  recoveryEvent(): StenoEvent {
    return {
      type: 'recording.recovered',
      recovered: this.recovery.recovered.map(toSummary),
      failed: this.recovery.failed.map((f) => ({ id: f.id, error: f.error.toJSON() })),
      tempFilesRemoved: this.recovery.tempFilesRemoved.length,
    };
  }

  /**
   * Finishes a recording in progress (reason 'shutdown') and ends the model
   * host; a running file job stops at its commit point and continues at the
   * next start.
   */
  async shutdown(): Promise<void> {
    await Promise.all([this.jobs.shutdown(), this.recorder.shutdown()]);
  }

  /** Ends the model host now and measures the process tree before and after. */
  private async unloadModels(): Promise<CommandResult<'unloadModels'>> {
    const transcriber = this.recorder.current?.transcriber ?? null;
    const pid = transcriber?.hostPid ?? null;
    const hostBefore =
      pid === null
        ? 0
        : ((await processRssBytes(pid)) ?? (await transcriber!.hostRssBytes(1000)) ?? 0);
    const before = process.memoryUsage.rss() + hostBefore;
    const { wasRunning, hostPid } = await this.recorder.unloadModels();
    // The host has exited (stop waits for it): what is left is this process.
    const hostAfter = hostPid === null ? 0 : ((await processRssBytes(hostPid)) ?? 0);
    const after = process.memoryUsage.rss() + hostAfter;
    return {
      hostWasRunning: wasRunning,
      treeRssBeforeBytes: before,
      treeRssAfterBytes: after,
      freedBytes: before - after,
    };
  }
}
