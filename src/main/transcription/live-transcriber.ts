import { Emitter } from '../../core/event';
import { StenoError, isStenoError } from '../../core/errors';
import { Disposable } from '../../core/lifecycle';
import { OnlineSpeakerClusterer } from '../../core/clustering';
import type { OverlapConfig } from '../../core/overlap';
import {
  HOST_SAMPLE_RATE,
  type HostModelPaths,
  type HostOptions,
  type HostSegment,
} from '../../core/host-protocol';
import type { SpeakerCount, TranscriptSegment } from '../../core/transcript';
import { nodeHostLauncher, type HostLauncher } from './host-process';
import { ModelHostSupervisor, type SupervisorOptions } from './supervisor';
import { TranscriptionFeed, type FeedSource } from './feed';
import { TranscriptLog, type ResumePoint } from './transcript-store';
import {
  meanEmbedding,
  reclusterTranscript,
  type RelabelPage,
  type TranscriptSummary,
} from './transcript-recluster';

/**
 * Cosine similarity above which an utterance joins a live speaker. Measured on
 * the generated embedding model's synthetic meeting: same speaker 0.35..0.91,
 * different speakers at most 0.42 (1.5 s windows); WeSpeaker ResNet34 is
 * usually used with about 0.5 as well.
 */
export const ONLINE_SPEAKER_THRESHOLD = 0.5;
/** Average-linkage merge threshold for the re-clustering at stop. */
export const FINAL_SPEAKER_THRESHOLD = 0.5;
/**
 * A commit record goes into the log at most this often (when the host's
 * commit point moved): a transcription stopped by a crash resumes from the
 * last one, so at most about this much of the host's work is done twice.
 */
export const COMMIT_RECORD_INTERVAL_MS = 1000;

export interface LiveTranscriberOptions {
  /** The recording's folder: the transcript log goes beside the audio. */
  folder: string;
  source: FeedSource;
  models: HostModelPaths;
  options: HostOptions;
  launcher?: HostLauncher;
  supervisor?: Partial<
    Pick<SupervisorOptions, 'backoffMs' | 'shutdownDeadlineMs' | 'readyTimeoutMs' | 'idleTimeoutMs'>
  >;
  /** How many people speak, when the person knows it; 'auto' (the default) estimates it. */
  speakers?: SpeakerCount;
  /** The re-clustering's merge threshold (default FINAL_SPEAKER_THRESHOLD); for tuning only. */
  clusterThreshold?: number;
  /** The smallest speaker the re-clustering keeps, seconds (default MIN_SPEAKER_S); for tuning only. */
  minSpeakerS?: number;
  /** Overlap marking at the re-clustering (default DEFAULT_OVERLAP); for tuning only. */
  overlap?: OverlapConfig;
  /**
   * Continue the transcript in `folder` from this point (prepareLogForResume
   * made the log end there) instead of starting it at the audio's start.
   */
  resume?: ResumePoint;
}

export interface LivePartial {
  startS: number;
  endS: number;
  text: string;
}

/**
 * A recording's live transcript: runs the model host (through the
 * supervisor), feeds it the recording, labels speakers online, writes every
 * final segment to the transcript log, and at the end re-clusters all
 * embeddings and relabels the transcript consistently. Transcription problems
 * never touch the recording: they are reported through `onDidFail`.
 */
export class LiveTranscriber extends Disposable {
  private readonly segmentEmitter = this._register(new Emitter<TranscriptSegment>());
  private readonly partialEmitter = this._register(new Emitter<LivePartial>());
  private readonly failEmitter = this._register(new Emitter<StenoError>());
  private readonly relabelEmitter = this._register(new Emitter<RelabelPage>());
  readonly onDidSegment = this.segmentEmitter.event;
  readonly onDidPartial = this.partialEmitter.event;
  readonly onDidFail = this.failEmitter.event;
  /**
   * Fires after the final re-clustering, once the new labels are saved, with
   * the segments whose speaker changed, in pages of at most
   * LIMITS.segmentsPerPage (none when nothing changed).
   */
  readonly onDidRelabel = this.relabelEmitter.event;
  readonly onDidHostCrash;
  /** A host (the first or a restarted one) loaded its models. */
  readonly onDidHostReady;
  /** The host exited after being idle (a long pause): its memory is back with the OS. */
  readonly onDidHostPark;

  private readonly supervisor: ModelHostSupervisor;
  private readonly feed: TranscriptionFeed;
  private readonly log: TranscriptLog;
  private readonly clusterer: OnlineSpeakerClusterer;
  /** Id (first sample) of the last final segment: a resend never repeats one. */
  private lastSegmentId = -1;
  private lastSpeaker = 0;
  /** abort() was called: finish() ends without re-clustering. */
  private aborted = false;
  /** Segments dropped as duplicates after a host restart (should stay 0). */
  duplicatesDropped = 0;
  /** Segments on disk in the transcript log. */
  segmentsWritten = 0;
  /** The commit point in the last commit record, and when it was written. */
  private commitRecorded = 0;
  private commitRecordedAtMs = -Infinity;
  /** Utterances in which Whisper found no text; not written to the transcript. */
  emptyUtterances = 0;

  /** The transcript log's errors are StenoErrors (the file, the problem, what to do). */
  private readonly reportLogFailure = (e: unknown): void => this.failEmitter.fire(e as StenoError);

  constructor(private readonly opts: LiveTranscriberOptions) {
    super();
    const known = opts.speakers === undefined || opts.speakers === 'auto' ? null : opts.speakers;
    // A known count caps the live speakers too: a voice beyond it joins the nearest.
    this.clusterer = new OnlineSpeakerClusterer({
      threshold: ONLINE_SPEAKER_THRESHOLD,
      ...(known !== null ? { maxSpeakers: known } : {}),
    });
    this.log = this._register(TranscriptLog.open(opts.folder));
    this.supervisor = this._register(
      new ModelHostSupervisor({
        models: opts.models,
        options: opts.options,
        launcher: opts.launcher ?? nodeHostLauncher,
        ...opts.supervisor,
      }),
    );
    this.onDidHostCrash = this.supervisor.onDidCrash;
    this.onDidHostReady = this.supervisor.onDidBecomeReady;
    this.onDidHostPark = this.supervisor.onDidPark;
    const resume = opts.resume;
    if (resume) {
      this.lastSegmentId = resume.lastSegmentId;
      this.segmentsWritten = resume.segmentCount;
      this.commitRecorded = resume.committedSample;
    }
    this.feed = this._register(
      new TranscriptionFeed(opts.source, this.supervisor, resume?.committedSample ?? 0),
    );
    this._register(
      this.supervisor.onDidMessage((m) => {
        // After the segment itself: a commit record follows the segments it covers.
        if (m.type === 'segment') this.onSegment(m.segment);
        if (m.type === 'ack' || m.type === 'segment' || m.type === 'flushed') {
          this.recordCommit(m.committedSample, m.type === 'flushed');
        } else if (m.type === 'partial') {
          this.partialEmitter.fire({
            startS: m.partial.startSample / HOST_SAMPLE_RATE,
            endS: m.partial.endSample / HOST_SAMPLE_RATE,
            text: m.partial.text,
          });
        } else if (m.type === 'error') {
          this.failEmitter.fire(StenoError.fromWire(m.error));
        }
      }),
    );
    this._register(this.supervisor.onDidFail((e) => this.failEmitter.fire(e)));
  }

  /** Starts the host; resolves when models are loaded (rejects on a bad model). */
  async start(): Promise<void> {
    await this.supervisor.start();
  }

  get lagSeconds(): number {
    return this.feed.lagSeconds;
  }

  /** Seconds of audio from the start that the host has fully transcribed (its commit point). */
  get transcribedSeconds(): number {
    return this.feed.committedSample / HOST_SAMPLE_RATE;
  }

  get hostRestarts(): number {
    return this.supervisor.restarts;
  }

  /** The host's resident memory, or null when none runs or it does not answer in time. */
  hostRssBytes(timeoutMs: number): Promise<number | null> {
    return this.supervisor.hostRssBytes(timeoutMs);
  }

  get hostPid(): number | undefined {
    return this.supervisor.pid;
  }

  get speakerCount(): number {
    return this.clusterer.speakerCount;
  }

  /** Simulates a host crash (kill -9); for tests and benchmarks. */
  killHost(): void {
    this.supervisor.killCurrentHost();
  }

  /**
   * The recording has stopped: transcribes the rest, ends the host, then
   * re-clusters all speakers and relabels the transcript (in memory bounded
   * whatever the meeting's length: see reclusterTranscript). Read the result
   * from the folder (readTranscriptPage).
   */
  async finish(): Promise<TranscriptSummary> {
    let failure: StenoError | null = null;
    try {
      await this.feed.finish();
    } catch (e) {
      failure = isStenoError(e)
        ? e
        : new StenoError('HOST_FAILED', String(e), 'Transcribe the recording again.');
    }
    await this.supervisor.stop();
    // Aborted meanwhile (a cancelled job, a quit that could not wait): the
    // transcript stays as written live, without the re-clustering, and the
    // stop is not reported again as a failure (whoever aborted said why).
    if (this.aborted) {
      return { segmentCount: this.segmentsWritten, speakerCount: this.clusterer.speakerCount };
    }
    const summary = await this.recluster();
    if (failure) this.failEmitter.fire(failure);
    return summary;
  }

  /**
   * Ends the host without waiting for the rest of the audio; `now`: kills it
   * at once instead of asking it to exit (a cancel).
   */
  async abort(opts: { now?: boolean } = {}): Promise<void> {
    this.aborted = true;
    await this.supervisor.stop(opts);
  }

  private recordCommit(sample: number, now: boolean): void {
    if (sample <= this.commitRecorded) return;
    const at = performance.now();
    if (!now && at - this.commitRecordedAtMs < COMMIT_RECORD_INTERVAL_MS) return;
    this.commitRecorded = sample;
    this.commitRecordedAtMs = at;
    this.log.appendCommit(sample).catch(this.reportLogFailure);
  }

  private onSegment(segment: HostSegment): void {
    if (segment.startSample <= this.lastSegmentId) {
      this.duplicatesDropped++;
      return;
    }
    this.lastSegmentId = segment.startSample;
    // Whisper heard no words in the whole utterance (a cough, a door):
    // nothing for a person to read. A wordless turn of a cut utterance is
    // still someone speaking, and stays (its words went to the turns beside
    // it). Turns are not joined back when they get the same live label: on
    // the development meeting that lost the changes the re-clustering at
    // stop would have used (DER 0.7507 against 0.6368).
    if (segment.text.trim() === '' && segment.turns <= 1) {
      this.emptyUtterances++;
      return;
    }
    this.emit(segment, this.speakerOf(segment));
  }

  private speakerOf(segment: HostSegment): number {
    const mean = meanEmbedding(segment.embeddings);
    const speaker = mean ? this.clusterer.assign(mean) : this.lastSpeaker;
    this.lastSpeaker = speaker;
    return speaker;
  }

  private emit(segment: HostSegment, speaker: number): void {
    const record = {
      id: segment.startSample,
      startS: segment.startSample / HOST_SAMPLE_RATE,
      endS: segment.endSample / HOST_SAMPLE_RATE,
      text: segment.text,
      speaker,
      embeddings: segment.embeddings,
    };
    this.log.appendSegment(record).then(() => this.segmentsWritten++, this.reportLogFailure);
    const { embeddings: _e, ...visible } = record;
    this.segmentEmitter.fire(visible);
  }

  private async recluster(): Promise<TranscriptSummary> {
    await this.log.whenWritten();
    // The folder was deleted and remade while recording (the session saved
    // the audio again): save the transcript beside it too.
    await this.log.restoreIfRemoved().catch(this.reportLogFailure);
    let saved = true;
    const summary = await reclusterTranscript(this.opts.folder, {
      threshold: this.opts.clusterThreshold ?? FINAL_SPEAKER_THRESHOLD,
      ...(this.opts.minSpeakerS !== undefined ? { minSpeakerS: this.opts.minSpeakerS } : {}),
      ...(this.opts.overlap ? { overlap: this.opts.overlap } : {}),
      ...(this.opts.speakers !== undefined && this.opts.speakers !== 'auto'
        ? { speakers: this.opts.speakers }
        : {}),
      appendLabels: (changes, overlap) =>
        this.log.appendLabels(changes, overlap).catch((e: unknown) => {
          saved = false;
          this.reportLogFailure(e);
        }),
      // Changes that could not be saved are not announced: what a person sees
      // stays what the folder holds.
      onChanges: (page) => {
        if (saved) this.relabelEmitter.fire(page);
      },
    });
    return summary;
  }
}
