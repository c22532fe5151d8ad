/**
 * One file transcribed with the live pipeline: the file is decoded as a
 * stream (src/main/decoding) into the job folder's audio.wav, 16 kHz mono
 * 16-bit, and the same LiveTranscriber that follows a recording follows that
 * file as it grows: the same feed, model host, speaker changes, transcript
 * log and re-clustering at the end. So a file costs what a recording costs:
 * memory flat in its length, a host crash resumed from the commit point, and
 * the decoded audio stays for playback and for transcribing again.
 *
 * Disk: 32 KB a second of audio (115 MB an hour), written as it is decoded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Emitter } from '../../core/event';
import type { StenoError } from '../../core/errors';
import { Disposable } from '../../core/lifecycle';
import { float32ToInt16 } from '../../core/pcm';
import { HOST_SAMPLE_RATE, type HostModelPaths, type HostOptions } from '../../core/host-protocol';
import type { SpeakerCount } from '../../core/transcript';
import { decodeFileTo16k, type DecodeResult } from '../decoding/decode-file';
import { mediaError } from '../decoding/media-errors';
import { statMediaFile } from '../decoding/probe';
import { AUDIO_FILE } from '../recording/recordings-store';
import { WavAppendWriter } from '../recording/wav-writer';
import type { HostLauncher } from './host-process';
import { LiveTranscriber } from './live-transcriber';
import type { TranscriptSummary } from './transcript-recluster';
import { prepareLogForResume, type ResumePoint } from './transcript-store';

export interface FileTranscriptionOptions {
  /** The file to transcribe. */
  source: string;
  /** An empty folder of the job's own: audio.wav and the transcript go there. */
  folder: string;
  models: HostModelPaths;
  options: HostOptions;
  speakers?: SpeakerCount;
  launcher?: HostLauncher;
  /** Cancels the job: decoding stops and the host is ended. */
  signal?: AbortSignal;
  /**
   * Continue a transcription stopped earlier (a crash, a pause) in `folder`:
   * the transcript goes on from its last commit record, and the file is
   * decoded again from its start (decoding is exact and many times faster
   * than transcribing) into a new audio.wav, which the host follows from
   * the commit point.
   */
  resume?: boolean;
  /**
   * The source as it was when the job was added: a file replaced or changed
   * since (or during decoding) is refused instead of being transcribed into
   * the old one's transcript.
   */
  expect?: { size: number; mtimeMs: number };
}

export interface FileProgress {
  /** Seconds of the file decoded into audio.wav so far. */
  decodedS: number;
  /** Seconds from the start fully transcribed (the host's commit point). */
  transcribedS: number;
  /** The file's length once it is all decoded, else null. */
  totalS: number | null;
}

export interface FileTranscriptionResult extends TranscriptSummary {
  decoded: DecodeResult;
  audioS: number;
}

/** How often progress is reported while the host works. */
const PROGRESS_MS = 250;

export class FileTranscription extends Disposable {
  private readonly progressEmitter = this._register(new Emitter<FileProgress>());
  readonly onDidProgress = this.progressEmitter.event;

  constructor(private readonly opts: FileTranscriptionOptions) {
    super();
  }

  /** Transcribes the file; rejects with the decoding's or the host's error, or the signal's reason. */
  async run(): Promise<FileTranscriptionResult> {
    const { folder, signal } = this.opts;
    const audioPath = path.join(folder, AUDIO_FILE);
    await this.checkSource();
    let resume: ResumePoint | undefined;
    if (this.opts.resume) {
      resume = await prepareLogForResume(folder);
      await fs.promises.rm(audioPath, { force: true });
    }
    const writer = await WavAppendWriter.create(audioPath, {
      sampleRate: HOST_SAMPLE_RATE,
      channels: 1,
      bitsPerSample: 16,
    });
    let framesWritten = 0;
    let totalS: number | null = null;
    let live: LiveTranscriber;
    try {
      live = new LiveTranscriber({
        folder,
        source: { audioPath, sampleRate: HOST_SAMPLE_RATE, writtenFrames: () => framesWritten },
        models: this.opts.models,
        options: this.opts.options,
        ...(this.opts.speakers !== undefined ? { speakers: this.opts.speakers } : {}),
        ...(this.opts.launcher ? { launcher: this.opts.launcher } : {}),
        ...(resume ? { resume } : {}),
      });
    } catch (e) {
      // The transcript log could not be opened: the audio file goes with it.
      await writer.close().catch(() => {});
      writer.dispose();
      throw e;
    }
    // The first problem the transcript met is the job's error.
    let failure: StenoError | null = null;
    const failSub = live.onDidFail((e) => (failure ??= e));
    const report = () =>
      this.progressEmitter.fire({
        decodedS: framesWritten / HOST_SAMPLE_RATE,
        // A resumed run re-decodes from the start while its commit point is further on.
        transcribedS: Math.min(
          live.transcribedSeconds,
          Math.max(framesWritten, resume?.committedSample ?? 0) / HOST_SAMPLE_RATE,
        ),
        totalS,
      });
    const ticker = setInterval(report, PROGRESS_MS);
    try {
      await untilAborted(live.start(), signal);
      const decoded = await decodeFileTo16k(
        this.opts.source,
        async (samples) => {
          const pcm = float32ToInt16(samples);
          await writer.append(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
          framesWritten += samples.length;
        },
        signal ? { signal } : {},
      );
      await writer.close();
      // Read whole while it changed under the reader: not the file the person added.
      await this.checkSource();
      totalS = framesWritten / HOST_SAMPLE_RATE;
      signal?.throwIfAborted();
      // Hours of audio may wait for the host here: a cancel must not wait for it.
      const summary = await untilAborted(live.finish(), signal);
      if (failure) throw failure;
      report();
      return { ...summary, decoded, audioS: totalS };
    } catch (e) {
      // Ends the host; on a cancel at once, so that its work stops now.
      await live.abort({ now: signal?.aborted === true });
      throw signal?.aborted ? signal.reason : e;
    } finally {
      clearInterval(ticker);
      failSub.dispose();
      live.dispose();
      await writer.close().catch(() => {});
      writer.dispose();
    }
  }

  private async checkSource(): Promise<void> {
    const expect = this.opts.expect;
    if (!expect) return;
    const file = this.opts.source;
    const stat = await statMediaFile(file);
    if (stat.size !== expect.size || stat.mtimeMs !== expect.mtimeMs) {
      throw mediaError(file, 'replaced');
    }
  }
}

/**
 * `work`, or the signal's reason as soon as it is aborted. Work left behind
 * is the caller's to end (here: ending the host makes it settle); its
 * outcome is then ignored.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
