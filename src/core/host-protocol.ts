/**
 * Messages between the app (main) and the model-host process.
 *
 * Audio flows main -> host in chunks of at most `MAX_CHUNK_SAMPLES` (1 s at
 * 16 kHz). The host acknowledges each chunk once it has taken it in; main keeps
 * at most `MAX_UNACKED_CHUNKS` chunks unacknowledged, so neither side queues
 * without bound. Every ack also carries `committedSample`: all audio before it
 * is accounted for (every utterance ending before it has been sent back as a
 * final segment). After a host crash, main resends from `committedSample`, so
 * nothing is transcribed twice and nothing is skipped.
 *
 * Sample positions are 16 kHz sample indices from the start of the recording.
 */

export const HOST_SAMPLE_RATE = 16_000;
/** Chunks carry at most 1 s of audio. */
export const MAX_CHUNK_SAMPLES = 16_000;
/**
 * Flow-control window: at most 8 chunks (8 s) sent and not yet acknowledged.
 * When it is full the feed waits; the audio stays on disk meanwhile.
 */
export const MAX_UNACKED_CHUNKS = 8;

export interface HostModelPaths {
  whisper: string;
  vad: string;
  embedding: string;
}

export interface HostOptions {
  /** Whisper language code, or 'auto' to detect it per utterance. */
  language: string;
  /** Whisper compute threads. */
  threads: number;
  /** Cap on tokens decoded per utterance. */
  maxTokens: number;
  /** Show partial hypotheses of the utterance in progress when the host is idle. */
  partials: boolean;
  /** Speaker-embedding window within long utterances, seconds. */
  embeddingWindowS: number;
  /** Cut utterances where the voice changes (off when the person said one speaker talks). */
  speakerChanges?: boolean;
  /** Cosine below which two adjacent windows are two speakers (default DEFAULT_SPEAKER_CHANGE's). */
  speakerChangeThreshold?: number;
}

export type MainToHost =
  | { type: 'configure'; id: number; models: HostModelPaths; options: HostOptions }
  | { type: 'audio'; seq: number; startSample: number; samples: Float32Array }
  /** Restart the stream at `startSample` (after a resend). */
  | { type: 'reset'; id: number; startSample: number }
  /** End of stream: close the open utterance at `endSample` and transcribe it. */
  | { type: 'flush'; id: number; endSample: number }
  | { type: 'ping'; id: number }
  | { type: 'shutdown' };

export interface WireError {
  code: string;
  message: string;
  action: string;
}

export interface HostSegment {
  /** The utterance's first sample: unique within a recording. */
  startSample: number;
  endSample: number;
  text: string;
  /** Speaker embeddings of the utterance (one per window), L2-normalised. */
  embeddings: Float32Array[];
  /** Whisper's detected or configured language. */
  language: string;
  /**
   * Into how many speaker turns the utterance was cut (1: it is the whole
   * utterance). A turn of a cut utterance may have no words (Whisper placed
   * them all in the other turns) and is still speech; a whole utterance with
   * no words is not (a cough, a door).
   */
  turns: number;
  /** Which of those turns this is, 0 first. */
  turn: number;
}

export interface HostPartial {
  startSample: number;
  endSample: number;
  text: string;
}

export interface HostReadyInfo {
  whisper: string;
  embeddingDimension: number;
  pid: number;
}

export type HostToMain =
  | { type: 'ready'; id: number; info: HostReadyInfo }
  | { type: 'ack'; seq: number; committedSample: number }
  | { type: 'segment'; segment: HostSegment; committedSample: number }
  | { type: 'partial'; partial: HostPartial }
  | { type: 'flushed'; id: number; committedSample: number }
  | { type: 'pong'; id: number; rssBytes: number }
  | { type: 'error'; id: number | null; error: WireError };

/** Type guard for messages arriving at the host (the parent is trusted but checked). */
export function parseMainToHost(value: unknown): MainToHost | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const int = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  switch (v.type) {
    case 'configure':
      return int(v.id) && typeof v.models === 'object' && typeof v.options === 'object'
        ? (v as unknown as MainToHost)
        : null;
    case 'audio':
      return int(v.seq) &&
        int(v.startSample) &&
        v.samples instanceof Float32Array &&
        v.samples.length > 0 &&
        v.samples.length <= MAX_CHUNK_SAMPLES
        ? (v as unknown as MainToHost)
        : null;
    case 'reset':
      return int(v.id) && int(v.startSample) ? (v as unknown as MainToHost) : null;
    case 'flush':
      return int(v.id) && int(v.endSample) ? (v as unknown as MainToHost) : null;
    case 'ping':
      return int(v.id) ? (v as unknown as MainToHost) : null;
    case 'shutdown':
      return { type: 'shutdown' };
    default:
      return null;
  }
}

/** Largest text a host message may carry (a segment's words; the API's own limit for segment text). */
const MAX_HOST_TEXT = 10_000;
/** Most embedding windows one utterance may carry (a 30 s utterance at 0.25 s hops is 120). */
export const MAX_EMBEDDINGS = 512;

/**
 * Checks a message from the host before main trusts it. The host is our own
 * process, but a crash mid-write, a bug or a native library printing into the
 * channel must never throw in main or reach the recording: a malformed
 * message is dropped (null) and counted by the connection.
 */
export function parseHostToMain(value: unknown): HostToMain | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const int = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  const text = (x: unknown) => typeof x === 'string' && x.length <= MAX_HOST_TEXT;
  const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
  const wireError = (x: unknown) => obj(x) && text(x.code) && text(x.message) && text(x.action);
  const span = (x: Record<string, unknown>) =>
    int(x.startSample) && int(x.endSample) && text(x.text);
  switch (v.type) {
    case 'ready':
      return int(v.id) &&
        obj(v.info) &&
        text(v.info.whisper) &&
        int(v.info.embeddingDimension) &&
        int(v.info.pid)
        ? (v as unknown as HostToMain)
        : null;
    case 'ack':
      return int(v.seq) && int(v.committedSample) ? (v as unknown as HostToMain) : null;
    case 'segment': {
      const s = v.segment;
      return obj(s) &&
        span(s) &&
        text(s.language) &&
        int(s.turns) &&
        (s.turns as number) >= 1 &&
        int(s.turn) &&
        (s.turn as number) < (s.turns as number) &&
        Array.isArray(s.embeddings) &&
        s.embeddings.length <= MAX_EMBEDDINGS &&
        s.embeddings.every((e) => e instanceof Float32Array) &&
        int(v.committedSample)
        ? (v as unknown as HostToMain)
        : null;
    }
    case 'partial':
      return obj(v.partial) && span(v.partial) ? (v as unknown as HostToMain) : null;
    case 'flushed':
      return int(v.id) && int(v.committedSample) ? (v as unknown as HostToMain) : null;
    case 'pong':
      return int(v.id) && int(v.rssBytes) ? (v as unknown as HostToMain) : null;
    case 'error':
      return (v.id === null || int(v.id)) && wireError(v.error)
        ? (v as unknown as HostToMain)
        : null;
    default:
      return null;
  }
}
