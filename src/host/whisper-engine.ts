/**
 * Whisper speech-to-text for the model host, on smart-whisper's low-level
 * addon API (WhisperModel.load / transcribe / free).
 *
 * Import this only inside the model-host process. smart-whisper's native code
 * crashes the process on a model file whisper.cpp rejects and on free() during
 * a transcription, and cannot abort a transcription; the host is the process
 * that may die, and ending it is how a transcription is aborted. So:
 *   - a file is validated (./whisper-model-file) before it is loaded;
 *   - transcriptions run one at a time, and the model is freed only after the
 *     running one has finished;
 *   - failures arrive as an Error passed to the "finish" callback (smart-whisper
 *     never rejects), and are turned into rejections here.
 * smart-whisper's high-level `Whisper` class is not used: it keeps every result
 * in an array forever, holds the process open with an offload timer and
 * decodes with beam search by default.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { StenoError } from '../core/errors';
import { Disposable } from '../core/lifecycle';
import { validateWhisperModelFile, type WhisperModelInfo } from './whisper-model-file';

export interface WhisperEngineOptions {
  /** Compute threads (default: min(4, CPUs), whisper.cpp's default). */
  threads?: number;
}

export interface WhisperTranscribeOptions {
  /** ISO 639-1 code ('en', 'de', ...) or 'auto' to detect it (default 'en'). English-only models always use 'en'. */
  language?: string;
  /** Most text tokens decoded per 30 s window; 0 or undefined = whisper.cpp's limit (220). */
  maxTokens?: number;
  /** Added to every segment time: where `samples` starts in the recording. */
  offsetMs?: number;
  /**
   * Decode every 30 s window on its own instead of conditioning it on the text
   * of the previous window (OpenAI's condition_on_previous_text=False; whisper.cpp
   * CLI's `-mc 0`). Calls are always independent of each other.
   */
  noContext?: boolean;
}

/**
 * One piece of a segment's text with the time whisper.cpp gives it (its legacy
 * token timestamps: the timestamp tokens it decoded, with the time between them
 * shared out by each token's length and then fitted to the signal's energy).
 * Usually one Whisper token; tokens that each hold only part of a character's
 * UTF-8 bytes are one piece (see segmentTokens).
 */
export interface TranscribedToken {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  /** whisper.cpp's probability of the token (the lowest of the tokens merged into one piece). */
  readonly p: number;
}

export interface TranscribedSegment {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  /**
   * The text tokens, in order: their texts joined are exactly `text` (whisper.cpp's
   * leading space included; nothing is trimmed). Times lie within [startMs, endMs],
   * never decrease, and never overlap (each ends at or before the next starts).
   */
  readonly tokens: readonly TranscribedToken[];
}

/** What the raw addon (build/Release/smart-whisper.node) exports. */
interface NativeHandle {
  readonly __brand: 'whisper-handle';
}
interface NativeModel {
  readonly handle: NativeHandle | null;
  readonly freed: boolean;
  free(): Promise<void>;
}
/** With format 'detail': every token whisper.cpp decoded, special ones included. */
export interface NativeToken {
  text: string;
  id: number;
  p: number;
  /** ms from the start of the audio given (whisper.cpp's t0 * 10); only with token_timestamps. */
  from?: number;
  to?: number;
}
export interface NativeSegment {
  from: number;
  to: number;
  text: string;
  tokens?: NativeToken[];
}
interface WhisperAddon {
  WhisperModel: { load(file: string, gpu?: boolean): Promise<NativeModel> };
  transcribe(
    handle: NativeHandle,
    pcm: Float32Array,
    params: Record<string, unknown>,
    finish: (results: NativeSegment[] | Error) => void,
    progress: (segment: NativeSegment) => void,
  ): void;
}

export const WHISPER_SAMPLE_RATE = 16000;
/**
 * Capacity of the queue of transcriptions waiting for the running one. The
 * host feeds at most a few unacknowledged utterances; more than this means the
 * caller is not waiting for results, so the call is refused (INVALID_STATE)
 * instead of holding ever more audio.
 */
export const MAX_WAITING_TRANSCRIPTIONS = 8;

/** Language codes in whisper.cpp's order (its ids 0..99). */
const LANGUAGES = (
  'en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ' +
  'ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr ' +
  'pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt ' +
  'haw ln ha ba jw su yue'
).split(' ');

// Not named `require`: bundled ESM output declares its own.
const nodeRequire = createRequire(import.meta.url);
let addonCache: WhisperAddon | null = null;

/**
 * The raw addon, not smart-whisper's index: importing the index creates
 * ~/.smart-whisper/models as a side effect.
 */
function addon(): WhisperAddon {
  if (addonCache) return addonCache;
  try {
    const dir = path.dirname(nodeRequire.resolve('smart-whisper/package.json'));
    addonCache = nodeRequire(path.join(dir, 'build/Release/smart-whisper.node')) as WhisperAddon;
    return addonCache;
  } catch (e) {
    throw new StenoError(
      'NATIVE_UNAVAILABLE',
      `Steno's speech recognition (smart-whisper) could not be loaded: ${(e as Error)?.message ?? String(e)}.`,
      'Reinstall Steno (npm install rebuilds it).',
      { cause: e },
    );
  }
}

/**
 * whisper_full_params for one call. Greedy with a single decoder, one pass
 * (temperature fallback off: no re-decoding at higher temperatures), segment
 * timestamps on, nothing printed. Exported so tests can state what the
 * whisper.cpp CLI must be given to match (-bs 1 -bo 1 -nf -t N -l L, -mc 0 for noContext).
 */
export function whisperParams(
  threads: number,
  info: WhisperModelInfo,
  opts: WhisperTranscribeOptions,
): Record<string, unknown> {
  return {
    strategy: 0, // WHISPER_SAMPLING_GREEDY; smart-whisper starts from beam-search defaults
    best_of: 1,
    beam_size: 1,
    n_threads: threads,
    temperature: 0,
    temperature_inc: 0,
    language: languageFor(info, opts.language),
    translate: false,
    no_timestamps: false,
    single_segment: false,
    // Per-token times, to divide a segment where the speaker changes. whisper.cpp's
    // segments and text do not depend on it (the parity tests hold with it on).
    token_timestamps: true,
    max_len: 0,
    max_tokens: opts.maxTokens ?? 0,
    // Each call already gets a fresh whisper_state (no text from earlier calls);
    // n_max_text_ctx 0 also stops windows within this call conditioning on each other.
    no_context: true,
    ...(opts.noContext ? { n_max_text_ctx: 0 } : {}),
    print_special: false,
    print_progress: false,
    print_realtime: false,
    print_timestamps: false,
    format: 'detail', // smart-whisper returns tokens (and their times) only in this format
  };
}

function languageFor(info: WhisperModelInfo, language = 'en'): string {
  // An English-only model has no language tokens to choose or detect.
  if (!info.multilingual) return 'en';
  if (language === 'auto') return 'auto';
  const known = LANGUAGES.slice(0, info.dims.nVocab - 51765 - 1);
  if (!known.includes(language))
    throw new StenoError(
      'INVALID_ARGUMENT',
      `Whisper does not know the language "${language}".`,
      `Choose one of: auto, ${known.join(', ')}.`,
    );
  return language;
}

/**
 * whisper.cpp's end-of-text token id (whisper_vocab::token_eot): 50256 for an
 * English-only vocabulary, one more for a multilingual one (n_vocab >= 51865,
 * which is WhisperModelInfo.multilingual). Every id below it is a text token
 * of the model's vocabulary; it and every id above it (start of transcript,
 * languages, tasks, no-timestamps, [_BEG_], the timestamps) are special.
 * whisper.cpp builds a segment's text from the ids below it (whisper_full:
 * `tokens_cur[i].id < whisper_token_eot(ctx)`), and so does segmentTokens.
 */
export function endOfTextToken(info: Pick<WhisperModelInfo, 'multilingual'>): number {
  return info.multilingual ? 50257 : 50256;
}

/** One of smart-whisper's segments, its times moved by `offsetMs`, with its text tokens. */
export function transcribedSegment(
  raw: NativeSegment,
  eot: number,
  offsetMs: number,
): TranscribedSegment {
  return {
    text: raw.text,
    startMs: raw.from + offsetMs,
    endMs: raw.to + offsetMs,
    tokens: segmentTokens(raw, eot, offsetMs),
  };
}

/** What V8 puts for bytes that are not whole UTF-8 characters. */
const UNDECODABLE = '\uFFFD';

interface TextPiece {
  readonly text: string;
  /** The tokens it holds: first .. end - 1. */
  readonly first: number;
  readonly end: number;
}

/**
 * Divides `whole` (a segment's text) into pieces along `parts` (its text
 * tokens' texts, in order), or null when they do not line up.
 *
 * smart-whisper turns each token's bytes into a JS string on its own, so a
 * token holding only some of a character's UTF-8 bytes (common outside
 * English: byte-level BPE splits characters) arrives as U+FFFD, while the
 * segment's text, decoded whole, has the character. A run of such tokens
 * becomes one piece whose text is the segment's text from where the run starts
 * to where the next whole token starts: a character cannot be divided anyway.
 * A token without U+FFFD is valid UTF-8 and appears in the segment's text as
 * it is. The run's end is searched from its least possible length (each U+FFFD
 * run stands for one or more characters) and the whole must line up at the end.
 */
export function piecesOfText(whole: string, parts: readonly string[]): TextPiece[] | null {
  // Capacity: one piece per part at most.
  const pieces: TextPiece[] = [];
  let at = 0;
  for (let i = 0; i < parts.length;) {
    const part = parts[i]!;
    if (!part.includes(UNDECODABLE)) {
      if (!whole.startsWith(part, at)) return null;
      pieces.push({ text: part, first: i, end: i + 1 });
      at += part.length;
      i++;
      continue;
    }
    let end = i;
    while (end < parts.length && parts[end]!.includes(UNDECODABLE)) end++;
    const leastLength = parts
      .slice(i, end)
      .join('')
      .replace(/\uFFFD+/g, UNDECODABLE).length;
    const next = parts[end];
    const stop = next === undefined ? whole.length : whole.indexOf(next, at + leastLength);
    if (stop < at + leastLength) return null;
    pieces.push({ text: whole.slice(at, stop), first: i, end });
    at = stop;
    i = end;
  }
  return at === whole.length ? pieces : null;
}

/**
 * A segment's text tokens (ids below `eot`; special tokens dropped) with times
 * moved by `offsetMs`, clamped into the segment and made non-decreasing and
 * non-overlapping: whisper.cpp's legacy token times
 * (whisper_exp_compute_token_level_timestamps) are fitted to the signal's
 * energy token by token afterwards, which can move a token's start a few ms
 * before the previous token's end, or its end past the segment's. Tokens that
 * do not line up with the segment's text (never seen; it would be a change in
 * smart-whisper) give one token holding the whole text and the segment's times.
 */
export function segmentTokens(
  raw: NativeSegment,
  eot: number,
  offsetMs: number,
): TranscribedToken[] {
  const segmentStart = raw.from + offsetMs;
  const segmentEnd = Math.max(segmentStart, raw.to + offsetMs);
  const text = (raw.tokens ?? []).filter((t) => t.id < eot);
  if (raw.text === '' && text.length === 0) return [];
  const lowestP = (tokens: readonly NativeToken[]) =>
    tokens.reduce((p, t) => Math.min(p, t.p), tokens.length > 0 ? 1 : 0);
  const pieces = piecesOfText(
    raw.text,
    text.map((t) => t.text),
  );
  if (!pieces)
    return [{ text: raw.text, startMs: segmentStart, endMs: segmentEnd, p: lowestP(text) }];
  const within = (ms: number | undefined, otherwise: number) =>
    Math.min(segmentEnd, Math.max(segmentStart, ms === undefined ? otherwise : ms + offsetMs));
  let floor = segmentStart;
  const starts = pieces.map(
    (piece) => (floor = Math.max(floor, within(text[piece.first]!.from, segmentStart))),
  );
  return pieces.map((piece, k) => {
    const startMs = starts[k]!;
    const nextStart = starts[k + 1] ?? segmentEnd;
    const endMs = Math.min(
      nextStart,
      Math.max(startMs, within(text[piece.end - 1]!.to, segmentEnd)),
    );
    return { text: piece.text, startMs, endMs, p: lowestP(text.slice(piece.first, piece.end)) };
  });
}

function checkOptions(samples: Float32Array, opts: WhisperTranscribeOptions): void {
  const bad = (what: string) =>
    new StenoError('INVALID_ARGUMENT', `Cannot transcribe: ${what}.`, 'This is a bug in Steno.');
  if (!(samples instanceof Float32Array)) throw bad('audio must be a Float32Array');
  if (samples.length > 0x7fffffff) throw bad('audio longer than 37 hours');
  const { maxTokens, offsetMs } = opts;
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens >= 0))
    throw bad(`maxTokens ${maxTokens} is not a whole number >= 0`);
  if (offsetMs !== undefined && !(Number.isFinite(offsetMs) && offsetMs >= 0))
    throw bad(`offsetMs ${offsetMs} is not a number >= 0`);
}

interface Job {
  readonly samples: Float32Array;
  readonly params: Record<string, unknown>;
  readonly offsetMs: number;
  readonly resolve: (segments: TranscribedSegment[]) => void;
  readonly reject: (e: unknown) => void;
}

export class WhisperEngine extends Disposable {
  /**
   * Validates `file` (a bad one rejects with MODEL_INVALID and is never given
   * to whisper.cpp), then loads it.
   */
  static async load(file: string, opts: WhisperEngineOptions = {}): Promise<WhisperEngine> {
    const threads = opts.threads ?? Math.max(1, Math.min(4, os.availableParallelism()));
    if (!(Number.isInteger(threads) && threads >= 1 && threads <= 256))
      throw new StenoError(
        'INVALID_ARGUMENT',
        `Cannot load Whisper with ${threads} threads.`,
        'Use a whole number of threads from 1 to the number of CPU cores.',
      );
    const info = await validateWhisperModelFile(file);
    const native = addon();
    const model = await native.WhisperModel.load(info.path, false);
    if (!model.handle) {
      await model.free();
      throw new StenoError(
        'MODEL_INVALID',
        `The Whisper model ${file} did not load.`,
        'Download the model again, or choose another one.',
      );
    }
    return new WhisperEngine(native, model, info, threads);
  }

  /** Waiting jobs, oldest first; capacity MAX_WAITING_TRANSCRIPTIONS (full: the call is refused). */
  private readonly waiting: Job[] = [];
  private running: Promise<void> | null = null;
  private disposal: Promise<void> | null = null;

  private constructor(
    private readonly native: WhisperAddon,
    /** Held for the engine's life: its finalizer would free the context if it were collected. */
    private readonly model: NativeModel,
    readonly info: WhisperModelInfo,
    readonly threads: number,
  ) {
    super();
  }

  get isDisposed(): boolean {
    return this.disposal !== null;
  }

  /**
   * Transcribes 16 kHz mono audio. Calls run one at a time in call order; a
   * call made while another runs waits for it. `samples` is read when the call
   * starts running: do not modify it before the promise settles. Audio shorter
   * than 1 s gives no segments (whisper.cpp skips it).
   */
  transcribe(
    samples: Float32Array,
    opts: WhisperTranscribeOptions = {},
  ): Promise<TranscribedSegment[]> {
    try {
      if (this.disposal) throw disposedError();
      checkOptions(samples, opts);
      if (this.waiting.length >= MAX_WAITING_TRANSCRIPTIONS)
        throw new StenoError(
          'INVALID_STATE',
          `Whisper already has ${MAX_WAITING_TRANSCRIPTIONS} transcriptions waiting.`,
          'Wait for earlier transcriptions to finish before sending more audio.',
        );
      const params = whisperParams(this.threads, this.info, opts);
      return new Promise((resolve, reject) => {
        this.waiting.push({ samples, params, offsetMs: opts.offsetMs ?? 0, resolve, reject });
        this.pump();
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private pump(): void {
    if (this.running) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.running = this.run(job).finally(() => {
      this.running = null;
      this.pump();
    });
  }

  private async run(job: Job): Promise<void> {
    try {
      const handle = this.model.handle;
      if (!handle) throw disposedError();
      const raw = await new Promise<NativeSegment[]>((resolve, reject) => {
        // smart-whisper reports failure by calling `finish` with an Error, never by rejecting.
        this.native.transcribe(
          handle,
          job.samples,
          job.params,
          (result) => (result instanceof Error ? reject(result) : resolve(result)),
          () => undefined,
        );
      });
      const eot = endOfTextToken(this.info);
      job.resolve(raw.map((s) => transcribedSegment(s, eot, job.offsetMs)));
    } catch (e) {
      job.reject(
        e instanceof StenoError
          ? e
          : new StenoError(
              'HOST_FAILED',
              `Whisper could not transcribe the audio: ${(e as Error)?.message ?? String(e)}.`,
              'Try again; if it keeps failing, choose another model.',
              { cause: e },
            ),
      );
    }
  }

  /**
   * Refuses new calls, rejects the waiting ones, and frees the model once the
   * running transcription (if any) has finished: free() during one crashes.
   * Resolves when the model is freed; calling it again returns the same promise.
   */
  override dispose(): Promise<void> {
    if (this.disposal) return this.disposal;
    super.dispose();
    for (const job of this.waiting.splice(0)) job.reject(disposedError());
    const running = this.running;
    this.disposal = (async () => {
      // run() never rejects: it settles its job's promise instead.
      if (running) await running;
      await this.model.free();
    })();
    return this.disposal;
  }
}

function disposedError(): StenoError {
  return new StenoError(
    'INVALID_STATE',
    'The Whisper model was unloaded.',
    'Load the model again before transcribing.',
  );
}
