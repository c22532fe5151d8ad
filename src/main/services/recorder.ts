/**
 * The recorder: one recording at a time, from the microphone to a crash-safe
 * WAV, with the live transcript beside it, auto-stop, and every change as an
 * API event. The CLI, the window and `steno serve` all record through it.
 */
import type { OverlapConfig } from '../../core/overlap';
import { Emitter } from '../../core/event';
import { StenoError, isStenoError, toStenoError } from '../../core/errors';
import { Disposable, DisposableStore, toDisposable } from '../../core/lifecycle';
import { toDbfs } from '../../core/pcm';
import type { StenoEvent } from '../../core/api/events';
import type {
  Device,
  HostState,
  LiveRecording,
  RecordingSummary,
  Settings,
  StopReason,
} from '../../core/api/types';
import { LIMITS } from '../../core/api/types';
import type { SpeakerCount } from '../../core/transcript';
import type { CaptureSource, OpenCaptureOptions } from '../capture/capture-source';
import type { FileSystemLayer } from '../fs-layer';
import type { RecordingsStore } from '../recording/recordings-store';
import { RecordingSession } from '../recording/session';
import type { RecordingClock } from '../recording/wav-writer';
import { sharedClock } from './aligned-clock';
import { hostConfigFrom, MissingModelsError, type HostConfig } from './host-config';
import type { HostSlot } from './host-slot';
import type { HostLauncher } from '../transcription/host-process';
import { LiveTranscriber, type LiveTranscriberOptions } from '../transcription/live-transcriber';
import { toSummary } from './library';
import type { SettingsService } from './settings';

/**
 * Elapsed time is reported with the audio's level, as each read arrives (five
 * times a second from the microphone), at most once per this gap: a source
 * that delivers small chunks fast does not flood the clients.
 */
const MIN_PROGRESS_GAP_MS = 100;
/** Quitting waits this long for the transcript to finish, then ends the host (the audio is always final first). */
export const SHUTDOWN_TRANSCRIPT_DEADLINE_MS = 15_000;
/** After the host was ended at shutdown, how long the transcript may take to notice. */
const SHUTDOWN_GRACE_MS = 3000;
/** How often the auto-stop rules are checked. */
const AUTO_STOP_CHECK_MS = 1000;
export const AUTO_STOP_TIMER = 'auto-stop';

/** Where audio comes from: the microphone (naudiodon) in the app, a file or generator in tests. */
export interface CaptureProvider {
  listDevices(): Device[];
  open(options: OpenCaptureOptions): CaptureSource;
}

export interface RecorderServiceOptions {
  store: RecordingsStore;
  settings: SettingsService;
  capture: CaptureProvider;
  /** How the model host is started (child_process in Node, utilityProcess in Electron). */
  hostLauncher?: HostLauncher;
  /** The one model host shared with file jobs: a recording pauses a running job. */
  hostSlot?: HostSlot;
  /** Supervisor timings, for tests. */
  supervisor?: LiveTranscriberOptions['supervisor'];
  /** Session knobs, for tests and benchmarks. */
  session?: {
    watchdogMs?: number;
    ringSeconds?: number;
    syncIntervalMs?: number;
    fs?: FileSystemLayer;
    /** The recording's timers (default: the clock the services share). */
    clock?: RecordingClock;
  };
  /**
   * Speaker thresholds other than the defaults: only for the benchmark that
   * chooses them on the development meeting.
   */
  speakerTuning?: {
    changeThreshold?: number;
    clusterThreshold?: number;
    minSpeakerS?: number;
    overlap?: OverlapConfig;
  };
}

export interface StartRecordingOptions {
  /** A device id from listDevices (default: the setting). */
  deviceId?: number;
  /** How many people speak (default: the setting). */
  speakers?: SpeakerCount;
}

interface Active {
  session: RecordingSession;
  transcriber: LiveTranscriber | null;
  owned: DisposableStore;
  state: LiveRecording['state'];
  /** Written frames at the last chunk louder than the silence threshold. */
  loudAtFrames: number;
  ending: Promise<RecordingSummary> | null;
  /**
   * Pause, resume and stop run one after another: a stop that comes during a
   * pause's flush waits for it, so the final meta is always written last.
   */
  ops: Promise<void>;
  /** Settles when the transcript is final and the host has ended. */
  done: Promise<void> | null;
}

export class RecorderService extends Disposable {
  private readonly eventEmitter = this._register(new Emitter<StenoEvent>());
  readonly onDidEvent = this.eventEmitter.event;
  private active: Active | null = null;
  /** The start in progress: a second start is refused, shutdown waits for it. */
  private starting: Promise<unknown> | null = null;
  /** Set by shutdown: no new recording starts. */
  private closing = false;
  private host: HostState = 'stopped';

  /** The timers of the recorder and of its recordings. */
  private readonly clock: RecordingClock;

  constructor(private readonly opts: RecorderServiceOptions) {
    super();
    this.clock = opts.session?.clock ?? sharedClock;
    this._register(toDisposable(() => this.active?.owned.dispose()));
  }

  listDevices(): Device[] {
    return this.opts.capture.listDevices().slice(0, LIMITS.listItems);
  }

  get live(): LiveRecording | null {
    return this.active ? this.liveOf(this.active) : null;
  }

  get hostState(): HostState {
    return this.host;
  }

  /** The session and transcriber now, for metrics (null when not recording). */
  get current(): { session: RecordingSession; transcriber: LiveTranscriber | null } | null {
    return this.active
      ? { session: this.active.session, transcriber: this.active.transcriber }
      : null;
  }

  start(options: StartRecordingOptions = {}): Promise<LiveRecording> {
    if (this.closing) {
      return Promise.reject(
        new StenoError(
          'INVALID_STATE',
          'Steno is shutting down; no new recording can start.',
          'Start Steno again to record.',
        ),
      );
    }
    if (this.starting) {
      return Promise.reject(
        new StenoError(
          'ALREADY_RECORDING',
          'A recording is starting.',
          'Wait for it; Steno records one meeting at a time.',
        ),
      );
    }
    const started = this.startNow(options);
    // Claimed before the first await: a second start fails at once.
    this.starting = started;
    void started.catch(() => {}).finally(() => (this.starting = null));
    return started;
  }

  private async startNow(options: StartRecordingOptions): Promise<LiveRecording> {
    if (this.active) {
      throw new StenoError(
        'ALREADY_RECORDING',
        this.active.state === 'stopping'
          ? 'The last recording is still finishing its transcript.'
          : `A recording is already running (${this.active.session.id}).`,
        this.active.state === 'stopping'
          ? 'Wait a moment and start again.'
          : 'Stop it before starting another; Steno records one meeting at a time.',
      );
    }
    const settings = this.opts.settings.current;
    const device = options.deviceId ?? settings.deviceId ?? undefined;
    let session: RecordingSession;
    try {
      const capture = this.opts.capture.open({ deviceId: device });
      session = await RecordingSession.start({
        store: this.opts.store,
        capture,
        clock: this.clock,
        ...this.opts.session,
      });
    } catch (e) {
      throw toStenoError(e, 'starting the recording');
    }
    const owned = new DisposableStore();
    const active: Active = {
      session,
      transcriber: null,
      owned,
      state: 'recording',
      loudAtFrames: 0,
      ending: null,
      done: null,
      ops: Promise.resolve(),
    };
    owned.add(session);
    this.active = active;
    this.watch(active, settings);
    this.fireState();
    // The recording is under way; a file job gives up the model host (and
    // the CPU) now, and continues when this recording's transcript is done.
    if (this.opts.hostSlot) {
      try {
        owned.add(await this.opts.hostSlot.takeForRecording());
      } catch (e) {
        this.fireError('transcript', toStenoError(e, 'pausing the file being transcribed'));
      }
    }
    // Stopped (or failed) while the job gave up the host: no transcript to start.
    if (active.state === 'stopping' || this.active !== active) return this.liveOf(active);
    if (settings.liveTranscript) {
      await this.startTranscript(active, settings, options.speakers ?? settings.speakers);
    }
    return this.liveOf(active);
  }

  pause(): Promise<LiveRecording> {
    const a = this.requireRecording('pause');
    return this.serial(a, async () => {
      this.requireState(a, 'recording', 'pause');
      await a.session.pause();
      // A stop asked meanwhile waits for this; it must not be undone.
      if (a.state !== 'stopping') a.state = 'paused';
      this.fireState();
      // The pause made everything durable; no audio arrives to say so.
      if (a.state === 'paused') this.fireProgress(a.session);
      return this.liveOf(a);
    });
  }

  resume(): Promise<LiveRecording> {
    const a = this.requireRecording('resume');
    return this.serial(a, async () => {
      this.requireState(a, 'paused', 'resume');
      await a.session.resume();
      if (a.state !== 'stopping') a.state = 'recording';
      // Silence is counted from the resume: a long pause is not a silent meeting.
      a.loudAtFrames = a.session.recordedFrames;
      this.fireState();
      return this.liveOf(a);
    });
  }

  private serial<T>(a: Active, op: () => Promise<T>): Promise<T> {
    const result = a.ops.then(op);
    a.ops = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  private requireState(a: Active, state: 'recording' | 'paused', action: string): void {
    if (a.state === 'stopping') {
      throw new StenoError(
        'NOT_RECORDING',
        `There is no recording to ${action}.`,
        'Start a recording first.',
      );
    }
    if (a.state !== state) {
      throw new StenoError(
        'INVALID_STATE',
        `The recording is ${a.state}; it cannot ${action}.`,
        a.state === 'paused' ? 'Resume it first.' : 'Pause it first.',
      );
    }
  }

  /** Resolves once the audio is final; the transcript finishes after (transcript.finished). */
  stop(reason: StopReason = 'user'): Promise<RecordingSummary> {
    const a = this.active;
    if (!a || a.state === 'stopping') {
      if (a?.ending) return a.ending;
      return Promise.reject(
        new StenoError('NOT_RECORDING', 'Nothing is being recorded.', 'Start a recording first.'),
      );
    }
    return this.end(a, reason);
  }

  /**
   * Ends a recording in progress (reason 'shutdown'), one still starting
   * included, and waits for its transcript. No recording starts after this.
   */
  async shutdown(transcriptDeadlineMs = SHUTDOWN_TRANSCRIPT_DEADLINE_MS): Promise<void> {
    this.closing = true;
    await this.starting?.catch(() => {});
    const a = this.active;
    if (!a) return;
    // The audio is made final first, whatever it takes (capture and disk have their own deadlines).
    if (a.state !== 'stopping') await this.end(a, 'shutdown').catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), transcriptDeadlineMs);
    });
    const outcome = await Promise.race([a.done, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      // What was transcribed is in the log already; ending the host loses only the rest.
      this.fireError(
        'transcript',
        new StenoError(
          'HOST_FAILED',
          `The transcript was not finished within ${transcriptDeadlineMs / 1000} s of quitting; what was transcribed so far is kept.`,
          'Transcribe the recording again to get the rest.',
        ),
      );
      await a.transcriber?.abort();
      // The feed may still wait on a host that is gone; the owner's dispose cleans up.
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_GRACE_MS);
      });
      await Promise.race([a.done, grace]);
      clearTimeout(timer);
    }
  }

  /** Settles when the current recording (if any) has ended and its transcript is final. */
  async whenIdle(): Promise<void> {
    await this.active?.done;
  }

  /**
   * Ends the live transcript's model host now: its memory goes back to the OS.
   * The recording (if any) goes on; its live transcript ends here.
   */
  async unloadModels(): Promise<{ wasRunning: boolean; hostPid: number | null }> {
    const a = this.active;
    const transcriber = a?.transcriber ?? null;
    if (!a || !transcriber || a.state === 'stopping') return { wasRunning: false, hostPid: null };
    const pid = transcriber.hostPid ?? null;
    // Taken off the recording first: its end must not wait for a transcript that stopped.
    a.transcriber = null;
    await transcriber.abort();
    a.owned.delete(transcriber);
    this.fire({
      type: 'error',
      context: 'transcript',
      error: new StenoError(
        'INVALID_STATE',
        'The live transcript was stopped because the models were unloaded; the audio is still being recorded.',
        'Transcribe the recording after the meeting to get the rest of the transcript.',
      ).toJSON(),
    });
    this.setHost('stopped', null, 'unloaded');
    this.fireState();
    return { wasRunning: true, hostPid: pid };
  }

  private requireRecording(action: 'pause' | 'resume'): Active {
    const a = this.active;
    if (!a || a.state === 'stopping') {
      throw new StenoError(
        'NOT_RECORDING',
        `There is no recording to ${action}.`,
        'Start a recording first.',
      );
    }
    return a;
  }

  private liveOf(a: Active): LiveRecording {
    return {
      id: a.session.id,
      state: a.state,
      device: a.session.deviceName,
      startedAt: a.session.startedAt,
      audioPath: a.session.audioPath,
      sampleRate: a.session.stats.sampleRate,
      elapsedS: elapsedS(a.session),
      transcribing: a.transcriber !== null,
    };
  }

  private end(a: Active, reason: StopReason): Promise<RecordingSummary> {
    if (a.ending) return a.ending;
    a.state = 'stopping';
    this.fireState();
    a.ending = this.serial(a, async () => {
      const meta = await a.session.stop(reason);
      const summary = toSummary(meta);
      const error = a.session.error;
      const s = a.session.stats;
      const stats = {
        capturedS: s.capturedFrames / s.sampleRate,
        framesDropped: s.droppedFrames,
        ringHighWaterBytes: s.ringHighWaterBytes,
        ringCapacityBytes: s.ringCapacityBytes,
      };
      if (error) {
        this.fire({ type: 'recording.failed', recording: summary, error: error.toJSON(), stats });
      } else {
        this.fire({ type: 'recording.finished', recording: summary, reason, stats });
      }
      return summary;
    });
    a.done = a.ending
      .catch(() => {})
      .then(async () => {
        const transcriber = a.transcriber;
        const outcome = transcriber ? await this.finishTranscript(a.session.id, transcriber) : null;
        // Idle before anyone hears it is over: a listener may start the next recording.
        a.owned.dispose();
        if (this.active === a) this.active = null;
        if (!outcome) return;
        this.setHost('stopped', null, null);
        this.fire(outcome);
      });
    return a.ending;
  }

  /** Transcribes the rest and re-clusters; resolves with the event that says how it ended. */
  private async finishTranscript(id: string, t: LiveTranscriber): Promise<StenoEvent> {
    try {
      const summary = await t.finish();
      return {
        type: 'transcript.finished',
        id,
        segmentCount: summary.segmentCount,
        speakerCount: summary.speakerCount,
        hostRestarts: t.hostRestarts,
      };
    } catch (e) {
      return {
        type: 'error',
        context: 'transcript',
        error: toStenoError(e, 'finishing the transcript').toJSON(),
      };
    }
  }

  private watch(a: Active, settings: Settings): void {
    const { session, owned } = a;
    const threshold = settings.silenceThresholdDbfs;
    // Progress rides on the audio: it changes only when audio arrives, so a
    // timer of its own would wake the process to repeat the same figures.
    let progressAt = -Infinity;
    owned.add(
      session.onDidLevel((l) => {
        const peakDbfs = toDbfs(l.peak);
        if (peakDbfs >= threshold) a.loudAtFrames = session.recordedFrames;
        this.fire({ type: 'recording.level', peakDbfs, rmsDbfs: toDbfs(l.rms) });
        const now = performance.now();
        if (now - progressAt < MIN_PROGRESS_GAP_MS || a.state === 'stopping') return;
        progressAt = now;
        this.fireProgress(session);
      }),
    );
    // The session ends itself on a failure (device lost, disk full): finish the rest.
    owned.add(
      session.onDidFail(() => {
        if (a.state !== 'stopping') void this.end(a, 'error').catch(() => {});
      }),
    );
    owned.add(this.clock.every(AUTO_STOP_TIMER, AUTO_STOP_CHECK_MS, () => this.checkAutoStop(a)));
  }

  /** Auto-stop on the recording's own clock (audio recorded), so pauses do not count. */
  private checkAutoStop(a: Active): void {
    if (a.state !== 'recording') return;
    const { autoStopAfterHours, autoStopSilenceMinutes } = this.opts.settings.current;
    const s = a.session.stats;
    const elapsed = s.recordedFrames / s.sampleRate;
    if (autoStopAfterHours !== null && elapsed >= autoStopAfterHours * 3600) {
      void this.end(a, 'max-duration').catch(() => {});
      return;
    }
    const silentS = (s.recordedFrames - a.loudAtFrames) / s.sampleRate;
    if (autoStopSilenceMinutes !== null && silentS >= autoStopSilenceMinutes * 60) {
      void this.end(a, 'silence').catch(() => {});
    }
  }

  private async startTranscript(
    a: Active,
    settings: Settings,
    speakers: SpeakerCount,
  ): Promise<void> {
    let config: HostConfig;
    try {
      config = hostConfigFrom(settings, {
        speakers,
        ...(this.opts.speakerTuning?.changeThreshold !== undefined
          ? { speakerChangeThreshold: this.opts.speakerTuning.changeThreshold }
          : {}),
      });
    } catch (e) {
      if (!(e instanceof MissingModelsError)) throw e;
      this.fireError(
        'transcript',
        new StenoError(
          'MODEL_INVALID',
          `Transcription is off: no model at ${e.missing.join(', ')}.`,
          'Put the models there (see README, "Speech models") or choose model files in the settings; the audio is being recorded.',
        ),
      );
      return;
    }
    const { models, options } = config;
    const { session, owned } = a;
    let transcriber: LiveTranscriber;
    try {
      // Opening the transcript log can fail (disk full, folder gone): the
      // recording goes on without a live transcript, and says why.
      transcriber = new LiveTranscriber({
        folder: session.folder,
        source: {
          audioPath: session.audioPath,
          sampleRate: session.stats.sampleRate,
          writtenFrames: () => session.stats.writtenFrames,
        },
        models,
        options,
        speakers,
        ...(this.opts.speakerTuning?.clusterThreshold !== undefined
          ? { clusterThreshold: this.opts.speakerTuning.clusterThreshold }
          : {}),
        ...(this.opts.speakerTuning?.minSpeakerS !== undefined
          ? { minSpeakerS: this.opts.speakerTuning.minSpeakerS }
          : {}),
        ...(this.opts.speakerTuning?.overlap ? { overlap: this.opts.speakerTuning.overlap } : {}),
        ...(this.opts.hostLauncher ? { launcher: this.opts.hostLauncher } : {}),
        ...(this.opts.supervisor ? { supervisor: this.opts.supervisor } : {}),
      });
    } catch (e) {
      this.fireError('transcript', toStenoError(e, 'starting the live transcript'));
      return;
    }
    owned.add(transcriber);
    const id = session.id;
    let crashed = false;
    owned.add(
      transcriber.onDidSegment((segment) => this.fire({ type: 'transcript.segment', id, segment })),
    );
    owned.add(
      transcriber.onDidPartial((partial) => this.fire({ type: 'transcript.partial', id, partial })),
    );
    owned.add(
      transcriber.onDidRelabel((page) =>
        this.fire({ type: 'transcript.relabelled', id, changes: page.changes }),
      ),
    );
    owned.add(
      transcriber.onDidHostCrash((c) => {
        crashed = true;
        this.setHost(
          'crashed',
          null,
          `exit ${c.exit.signal ?? c.exit.code}; restarting in ${c.restartInMs} ms`,
        );
      }),
    );
    owned.add(
      transcriber.onDidHostReady((info) => {
        this.setHost(crashed ? 'restarted' : 'ready', info.pid, null);
        crashed = false;
      }),
    );
    owned.add(transcriber.onDidHostPark(() => this.setHost('parked', null, 'idle')));
    owned.add(transcriber.onDidFail((e) => this.fireError('transcript', e)));
    a.transcriber = transcriber;
    this.setHost('starting', null, null);
    try {
      await transcriber.start();
    } catch (e) {
      // Unloaded (or the recording ended) while the models were loading: not a failure.
      if (a.transcriber !== transcriber) return;
      this.setHost('failed', null, isStenoError(e) ? e.message : String(e));
      a.transcriber = null;
      owned.delete(transcriber);
      this.fireError('transcript', toStenoError(e, 'starting the live transcript'));
      return;
    }
    this.fireState();
  }

  private fireProgress(session: RecordingSession): void {
    const s = session.stats;
    this.fire({
      type: 'recording.progress',
      id: session.id,
      elapsedS: s.recordedFrames / s.sampleRate,
      durableS: s.durableFrames / s.sampleRate,
    });
  }

  private setHost(state: HostState, pid: number | null, detail: string | null): void {
    this.host = state;
    this.fire({ type: 'host.state', state, pid, detail });
  }

  private fireState(): void {
    const live = this.live;
    if (live) this.fire({ type: 'recording.state', recording: live });
  }

  private fireError(context: string, error: StenoError): void {
    this.fire({ type: 'error', context, error: error.toJSON() });
  }

  private fire(event: StenoEvent): void {
    this.eventEmitter.fire(event);
  }
}

function elapsedS(session: RecordingSession): number {
  return session.recordedFrames / session.stats.sampleRate;
}
