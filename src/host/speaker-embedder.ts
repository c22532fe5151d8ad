/**
 * Speaker embeddings over onnxruntime-node: CMN'd 80-dim fbank frames of one
 * utterance (src/core/fbank.ts) in, one L2-normalised vector out, for cosine
 * clustering into speakers.
 *
 * Model contract, WeSpeaker's ONNX export (ResNet34 on VoxCeleb is the default):
 *   input   float32 [B, T, 80]   B = 1 here, T dynamic (frames of 10 ms)
 *   output  float32 [B, D]       D = 256 for ResNet34; not normalised by the model
 * Names are not checked (exports differ: "feats"/"embs" in WeSpeaker's), only
 * the shapes, and a test run proves the graph really maps [1, T, 80] to [1, D].
 *
 * Runs only in the model host. One instance owns one InferenceSession for the
 * life of the host process: creating and releasing sessions repeatedly leaks
 * native memory (onnxruntime issue 25325), so make one embedder per host and
 * keep it; the host's exit is what gives memory back.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { StenoError } from '../core/errors';
import { Disposable, toDisposable } from '../core/lifecycle';
import { errorText, invalidModelError, readModelFile as readModelFileChecked } from './model-file';

/** The feature dimension the model must take: 80 mel bins, as WeSpeaker is trained. */
export const SPEAKER_FEATURE_DIMS = 80;

/**
 * Inputs shorter than this many frames (0.5 s) are repeated end to end up to it
 * before the model sees them. Pooling statistics over a handful of frames are
 * noise, and convolutional models with several stride-2 stages need some length
 * to produce any output; repeating (rather than zero-padding) is what WeSpeaker
 * does for short segments and keeps the statistics those of the speech itself.
 */
export const MIN_EMBEDDING_FRAMES = 50;

/**
 * WeSpeaker ResNet34 is about 27 MB, ResNet293 about 110 MB. The file is read
 * whole into memory, so the cap bounds what choosing a wrong file can cost.
 */
const MAX_MODEL_BYTES = 256 * 1024 * 1024;

const ACTION =
  'Reinstall Steno, or choose a speaker-embedding model exported by WeSpeaker (for example ResNet34, about 27 MB) that takes 80-dim fbank features.';

export interface SpeakerEmbedderOptions {
  /** onnxruntime intra-op threads (default 1: leave the other cores to Whisper). */
  threads?: number;
}

/** Features row-major: `data[frame * dims + bin]`, as src/core/fbank.ts makes them. */
export interface EmbeddingFeatures {
  frames: number;
  dims: number;
  data: Float32Array;
}

const invalid = invalidModelError('speaker-embedding', ACTION);

/** Reads the model file, turning every file-system failure into a sentence. */
function readModelFile(modelPath: string): Promise<Uint8Array> {
  return readModelFileChecked(
    modelPath,
    invalid,
    MAX_MODEL_BYTES,
    (mb) =>
      `is ${mb} MB, larger than any speaker-embedding model Steno supports (${MAX_MODEL_BYTES / 1e6} MB)`,
  );
}

function shapeText(shape: ReadonlyArray<number | string>): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Why `session` does not have the [B, T, 80] -> [B, D] signature, or undefined.
 * Symbolic dimensions (strings) pass here; the test run settles them.
 */
function signatureProblem(session: InferenceSession): string | undefined {
  const expected = `expected one float32 input [batch, frames, ${SPEAKER_FEATURE_DIMS}] and one output [batch, dimension]`;
  if (session.inputMetadata.length !== 1 || session.outputMetadata.length !== 1) {
    return (
      `has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; ` +
      expected
    );
  }
  const input = session.inputMetadata[0]!;
  const output = session.outputMetadata[0]!;
  if (!input.isTensor) return `has a non-tensor input ${input.name}; ${expected}`;
  if (input.type !== 'float32') return `has a ${input.type} input ${input.name}; ${expected}`;
  if (input.shape.length !== 3) {
    return `has an input ${input.name} of shape ${shapeText(input.shape)}; ${expected}`;
  }
  const [batch, , bins] = input.shape;
  if (typeof bins === 'number' && bins !== SPEAKER_FEATURE_DIMS) {
    return (
      `takes ${bins}-dim features (input ${input.name} ${shapeText(input.shape)}), ` +
      `but Steno computes ${SPEAKER_FEATURE_DIMS}-dim fbank features`
    );
  }
  if (typeof batch === 'number' && batch !== 1) {
    return `has a fixed batch of ${batch} (input ${input.name} ${shapeText(input.shape)}); ${expected}`;
  }
  if (!output.isTensor) return `has a non-tensor output ${output.name}; ${expected}`;
  if (output.type !== 'float32') return `has a ${output.type} output ${output.name}; ${expected}`;
  // An empty shape means the export did not record one: the test run decides.
  if (output.shape.length !== 0 && output.shape.length !== 2) {
    return `has an output ${output.name} of shape ${shapeText(output.shape)}; ${expected}`;
  }
  return undefined;
}

/** Releases the session and reports (never hides) a failure to release it. */
function releaseSession(session: InferenceSession): void {
  session.release().catch((e: unknown) => {
    process.emitWarning(`Releasing the speaker-embedding model session failed: ${errorText(e)}`);
  });
}

export class SpeakerEmbedder extends Disposable {
  /** Size of the vectors `embed` returns (256 for WeSpeaker ResNet34). */
  readonly dimension: number;
  /**
   * The last run queued; runs are chained so that one runs at a time (they would
   * anyway: onnxruntime-node runs on the host's thread) and `dispose` can wait for
   * the last before releasing the session. Callers bound how many they queue.
   */
  private tail: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly session: InferenceSession,
    readonly modelPath: string,
    private readonly inputName: string,
    private readonly outputName: string,
    dimension: number,
  ) {
    super();
    this.dimension = dimension;
    this._register(
      toDisposable(() => {
        this.disposed = true;
        // Releasing while a run waits in onnxruntime's queue would run it on a
        // freed session, so wait for the queued runs to settle first.
        void this.tail.then(
          () => releaseSession(this.session),
          () => releaseSession(this.session),
        );
      }),
    );
  }

  /**
   * Loads and checks the model. Throws StenoError('MODEL_INVALID') naming the
   * file when it is missing, unreadable, empty, not ONNX, or an ONNX model
   * without the [B, T, 80] -> [B, D] signature.
   */
  static async create(
    modelPath: string,
    options: SpeakerEmbedderOptions = {},
  ): Promise<SpeakerEmbedder> {
    const bytes = await readModelFile(modelPath);
    let session: InferenceSession;
    try {
      session = await InferenceSession.create(bytes, {
        executionProviders: ['cpu'],
        intraOpNumThreads: options.threads ?? 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        // Errors still reach us as exceptions; warnings would only clutter stderr.
        logSeverityLevel: 3,
      });
    } catch (e) {
      throw invalid(modelPath, `is not an ONNX model onnxruntime can load (${errorText(e)})`, e);
    }
    const problem = signatureProblem(session);
    if (problem !== undefined) {
      releaseSession(session);
      throw invalid(modelPath, problem);
    }
    const inputName = session.inputNames[0]!;
    const outputName = session.outputNames[0]!;
    let dimension: number;
    try {
      dimension = await testRun(session, modelPath, inputName, outputName);
    } catch (e) {
      releaseSession(session);
      throw e instanceof StenoError
        ? e
        : invalid(modelPath, `failed its test run (${errorText(e)})`, e);
    }
    return new SpeakerEmbedder(session, modelPath, inputName, outputName, dimension);
  }

  /**
   * The L2-normalised embedding of one utterance's CMN'd fbank features. Inputs
   * shorter than {@link MIN_EMBEDDING_FRAMES} are repeated up to it. A model
   * output of all zeros (e.g. pure digital silence) is returned as zeros: it has
   * no direction, and its cosine with anything is 0.
   */
  async embed(features: EmbeddingFeatures): Promise<Float32Array> {
    if (this.disposed) {
      throw new StenoError(
        'INVALID_STATE',
        'The speaker-embedding model was already unloaded.',
        'Load it again.',
      );
    }
    const { frames, dims, data } = features;
    if (dims !== SPEAKER_FEATURE_DIMS) {
      throw new StenoError(
        'INVALID_ARGUMENT',
        `Speaker embeddings need ${SPEAKER_FEATURE_DIMS}-dim features, got ${dims}.`,
        'Compute the features with computeFbank and its default (WeSpeaker) options.',
      );
    }
    if (!Number.isInteger(frames) || frames < 1 || data.length < frames * dims) {
      throw new StenoError(
        'INVALID_ARGUMENT',
        `Speaker embeddings need at least one frame of features, got ${frames} frames in ${data.length} values.`,
        'Embed utterances of at least 25 ms of audio.',
      );
    }
    const input = padByRepeating(
      data.subarray(0, frames * dims),
      frames,
      dims,
      MIN_EMBEDDING_FRAMES,
    );
    const run = this.tail.then(() =>
      this.session.run({
        [this.inputName]: new Tensor('float32', input.data, [1, input.frames, dims]),
      }),
    );
    // The chain must survive a failed run, and must not hold on to its result.
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    let out: InferenceSession.OnnxValueMapType;
    try {
      out = await run;
    } catch (e) {
      throw new StenoError(
        'HOST_FAILED',
        `Computing a speaker embedding failed: ${errorText(e)}.`,
        'Stop and start again; if it keeps happening, choose another speaker-embedding model.',
        { cause: e },
      );
    }
    const tensor = out[this.outputName];
    if (!tensor || tensor.type !== 'float32' || tensor.size !== this.dimension) {
      throw new StenoError(
        'HOST_FAILED',
        `The speaker-embedding model returned ${tensor?.size ?? 0} values instead of ${this.dimension}.`,
        'Choose another speaker-embedding model.',
      );
    }
    const embedding = l2Normalised(tensor.data as Float32Array);
    if (!embedding) {
      throw new StenoError(
        'HOST_FAILED',
        'The speaker-embedding model returned NaN or infinite values.',
        'Choose another speaker-embedding model.',
      );
    }
    return embedding;
  }
}

/**
 * One run on deterministic pseudo-features: names and shapes can match while the
 * graph does not. Returns the embedding dimension the model really produces.
 */
async function testRun(
  session: InferenceSession,
  modelPath: string,
  inputName: string,
  outputName: string,
): Promise<number> {
  const frames = MIN_EMBEDDING_FRAMES;
  const probe = new Float32Array(frames * SPEAKER_FEATURE_DIMS);
  // A fixed smooth pattern, roughly the range of CMN'd log-mel values.
  for (let i = 0; i < probe.length; i++) probe[i] = Math.sin(i * 0.37) * 2 + Math.cos(i * 0.011);
  const out = await session.run({
    [inputName]: new Tensor('float32', probe, [1, frames, SPEAKER_FEATURE_DIMS]),
  });
  const tensor = out[outputName];
  if (!tensor || tensor.type !== 'float32') {
    throw invalid(modelPath, `returned no float32 ${outputName} for ${frames} frames of features`);
  }
  if (tensor.dims.length !== 2 || tensor.dims[0] !== 1 || !(tensor.size > 0)) {
    throw invalid(
      modelPath,
      `returned shape [${tensor.dims.join(', ')}] for input [1, ${frames}, ${SPEAKER_FEATURE_DIMS}], expected [1, dimension]`,
    );
  }
  const values = tensor.data as Float32Array;
  if (!values.every(Number.isFinite)) {
    throw invalid(modelPath, 'returned non-finite values (NaN or infinity) in its test run');
  }
  return tensor.size;
}

/** `data` (frames x dims) repeated end to end until it has at least `minFrames` frames. */
function padByRepeating(
  data: Float32Array,
  frames: number,
  dims: number,
  minFrames: number,
): { data: Float32Array; frames: number } {
  if (frames >= minFrames) return { data, frames };
  const padded = new Float32Array(minFrames * dims);
  for (let at = 0; at < padded.length; at += data.length) {
    padded.set(data.subarray(0, Math.min(data.length, padded.length - at)), at);
  }
  return { data: padded, frames: minFrames };
}

/** `v / |v|`; zeros stay zeros; undefined when `v` holds NaN or infinity. */
function l2Normalised(v: Float32Array): Float32Array | undefined {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (!Number.isFinite(sum)) return undefined;
  const out = new Float32Array(v.length);
  if (sum === 0) return out;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * scale;
  return out;
}
