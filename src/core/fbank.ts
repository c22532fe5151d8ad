/**
 * Kaldi-compatible log mel filterbank features ("fbank"), as computed by Kaldi's
 * `compute-fbank` and `torchaudio.compliance.kaldi.fbank`, for the speaker
 * embedding model.
 *
 * Per frame (Kaldi's FeatureWindowFunction / ProcessWindow / MelBanks):
 *   1. optional scaling of [-1, 1] floats to the int16 range (WeSpeaker does
 *      `waveform * (1 << 15)` before `kaldi.fbank`);
 *   2. subtract the frame's mean (remove_dc_offset);
 *   3. pre-emphasis x[i] -= k·x[i-1] from the end backwards, x[0] -= k·x[0];
 *   4. window (povey = hann^0.85, hamming, hanning or rectangular);
 *   5. zero-pad to the next power of two and take the power spectrum;
 *   6. triangular mel filters on Kaldi's mel scale 1127·ln(1 + f/700), built
 *      over FFT bins 0..N/2-1 exactly as Kaldi's MelBanks does;
 *   7. log(max(energy, FLT_EPSILON)).
 * Not implemented because inference never uses them: dither (always 0),
 * snip_edges = false, use_energy, VTLN warping, htk_compat.
 *
 * Window choice: Kaldi's and torchaudio's default window is povey, but
 * WeSpeaker's training pipeline (wespeaker/dataset/processor.py compute_fbank)
 * and its ONNX diarization front end call `kaldi.fbank(..., window_type='hamming')`.
 * Embeddings are only as good as the match with training features, so
 * {@link WESPEAKER_FBANK_OPTIONS} uses hamming; pass `{ window: 'povey' }` for
 * Kaldi's `compute-fbank` defaults.
 */
import { RealFft } from './fft';

export type FbankWindow = 'povey' | 'hamming' | 'hanning' | 'rectangular';

export interface FbankOptions {
  /** Input sample rate in Hz. */
  sampleRate: number;
  /** Number of mel bins, the feature dimension. */
  numMelBins: number;
  /** Frame length in milliseconds (25 ms = 400 samples at 16 kHz). */
  frameLengthMs: number;
  /** Frame shift in milliseconds (10 ms = 160 samples at 16 kHz). */
  frameShiftMs: number;
  /** Pre-emphasis coefficient; 0 disables it. */
  preemphasis: number;
  /** Subtract each frame's mean before pre-emphasis. */
  removeDcOffset: boolean;
  window: FbankWindow;
  /** Lowest mel filter edge in Hz. */
  lowFreq: number;
  /** Highest mel filter edge in Hz; 0 means Nyquist, negative is an offset below Nyquist. */
  highFreq: number;
  /**
   * Multiply input samples by 32768 first. Kaldi features are computed on int16
   * magnitudes and WeSpeaker feeds `waveform * (1 << 15)`; with [-1, 1] floats
   * this keeps energies (and so where the FLT_EPSILON log floor bites) identical
   * to training. After CMN the scale is a constant offset except near the floor.
   */
  scaleToInt16: boolean;
}

/** Features row-major: `data[frame * dims + bin]`. */
export interface Features {
  frames: number;
  dims: number;
  data: Float32Array;
}

/** The front end of WeSpeaker ResNet models (80-dim fbank, 25/10 ms, hamming). */
export const WESPEAKER_FBANK_OPTIONS: Readonly<FbankOptions> = Object.freeze({
  sampleRate: 16000,
  numMelBins: 80,
  frameLengthMs: 25,
  frameShiftMs: 10,
  preemphasis: 0.97,
  removeDcOffset: true,
  window: 'hamming',
  lowFreq: 20,
  highFreq: 0,
  scaleToInt16: true,
});

/** Kaldi's log floor: std::numeric_limits<float>::epsilon(). */
export const FLT_EPSILON = 1.1920928955078125e-7;
export const LOG_FLOOR = Math.log(FLT_EPSILON);

/** Kaldi's mel scale. */
export function melScale(freq: number): number {
  return 1127 * Math.log(1 + freq / 700);
}

export function inverseMelScale(mel: number): number {
  return 700 * (Math.exp(mel / 1127) - 1);
}

/** Number of frames Kaldi produces with snip_edges = true. */
export function numFrames(numSamples: number, frameLength: number, frameShift: number): number {
  if (numSamples < frameLength) return 0;
  return 1 + Math.floor((numSamples - frameLength) / frameShift);
}

function samplesFromMs(sampleRate: number, ms: number): number {
  // Kaldi truncates (static_cast<int32>); the epsilon keeps 16000*0.025 from
  // becoming 399.99999 -> 399.
  return Math.floor(sampleRate * ms * 0.001 + 1e-6);
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

function buildWindow(kind: FbankWindow, length: number): Float64Array {
  const w = new Float64Array(length);
  const a = (2 * Math.PI) / (length - 1);
  for (let i = 0; i < length; i++) {
    switch (kind) {
      case 'povey':
        w[i] = Math.pow(0.5 - 0.5 * Math.cos(a * i), 0.85);
        break;
      case 'hamming':
        w[i] = 0.54 - 0.46 * Math.cos(a * i);
        break;
      case 'hanning':
        w[i] = 0.5 - 0.5 * Math.cos(a * i);
        break;
      case 'rectangular':
        w[i] = 1;
        break;
    }
  }
  return w;
}

/**
 * Holds everything derived from one set of options (window, FFT tables, mel
 * filters, per-frame scratch), so computing features for an utterance allocates
 * only the output (frames × dims floats, sized by the input) unless the caller
 * passes its own buffer. Not reentrant: one computation at a time.
 */
export class FbankComputer {
  readonly options: Readonly<FbankOptions>;
  readonly frameLength: number;
  readonly frameShift: number;
  readonly fftSize: number;
  readonly dims: number;
  /** Center frequency in Hz of each mel bin. */
  readonly centerFrequencies: Float64Array;

  private readonly window: Float64Array;
  private readonly fft: RealFft;
  /** First FFT bin of each mel filter, and its weights laid out contiguously. */
  private readonly filterStart: Int32Array;
  private readonly filterOffset: Int32Array;
  private readonly filterLength: Int32Array;
  private readonly filterWeights: Float64Array;
  private readonly frame: Float64Array;
  private readonly power: Float64Array;

  constructor(options: Partial<FbankOptions> = {}) {
    const o: FbankOptions = { ...WESPEAKER_FBANK_OPTIONS, ...options };
    this.options = Object.freeze(o);
    if (!(o.sampleRate > 0)) throw new RangeError(`invalid sample rate ${o.sampleRate}`);
    if (!Number.isInteger(o.numMelBins) || o.numMelBins < 1) {
      throw new RangeError(`invalid numMelBins ${o.numMelBins}`);
    }
    this.frameLength = samplesFromMs(o.sampleRate, o.frameLengthMs);
    this.frameShift = samplesFromMs(o.sampleRate, o.frameShiftMs);
    if (this.frameLength < 2 || this.frameShift < 1) {
      throw new RangeError('frame length and shift must be at least 2 and 1 samples');
    }
    this.fftSize = Math.max(4, nextPowerOfTwo(this.frameLength));
    this.dims = o.numMelBins;
    this.window = buildWindow(o.window, this.frameLength);
    this.fft = new RealFft(this.fftSize);
    this.frame = new Float64Array(this.frameLength);
    this.power = new Float64Array(this.fft.bins);

    // Mel filters, following Kaldi's MelBanks constructor.
    const nyquist = 0.5 * o.sampleRate;
    const highFreq = o.highFreq > 0 ? o.highFreq : nyquist + o.highFreq;
    if (!(o.lowFreq >= 0 && highFreq > o.lowFreq && highFreq <= nyquist)) {
      throw new RangeError(`invalid mel range ${o.lowFreq}..${highFreq} Hz`);
    }
    const numFftBins = this.fftSize / 2; // Kaldi leaves out the Nyquist bin.
    const binWidth = o.sampleRate / this.fftSize;
    const melLow = melScale(o.lowFreq);
    const melHigh = melScale(highFreq);
    const melDelta = (melHigh - melLow) / (o.numMelBins + 1);
    this.centerFrequencies = new Float64Array(o.numMelBins);
    this.filterStart = new Int32Array(o.numMelBins);
    this.filterOffset = new Int32Array(o.numMelBins);
    this.filterLength = new Int32Array(o.numMelBins);
    const weights: number[] = [];
    for (let bin = 0; bin < o.numMelBins; bin++) {
      const left = melLow + bin * melDelta;
      const center = melLow + (bin + 1) * melDelta;
      const right = melLow + (bin + 2) * melDelta;
      this.centerFrequencies[bin] = inverseMelScale(center);
      let first = -1;
      let last = -1;
      const row: number[] = [];
      for (let i = 0; i < numFftBins; i++) {
        const mel = melScale(binWidth * i);
        if (mel > left && mel < right) {
          const weight =
            mel <= center ? (mel - left) / (center - left) : (right - mel) / (right - center);
          if (first === -1) first = i;
          last = i;
          row[i] = weight;
        }
      }
      // A filter narrower than one FFT bin has no weights (Kaldi errors out);
      // it then yields the log floor rather than failing here.
      this.filterStart[bin] = Math.max(first, 0);
      this.filterOffset[bin] = weights.length;
      this.filterLength[bin] = first === -1 ? 0 : last - first + 1;
      for (let i = first; first !== -1 && i <= last; i++) weights.push(row[i] ?? 0);
    }
    this.filterWeights = Float64Array.from(weights);
  }

  /** Frames this computer produces for `numSamples` samples (snip_edges = true). */
  framesFor(numSamples: number): number {
    return numFrames(numSamples, this.frameLength, this.frameShift);
  }

  /**
   * Features of `samples` (floats, [-1, 1] when scaleToInt16). When `out` is given
   * it must hold frames × dims floats and the result's `data` is a view of it.
   */
  compute(samples: Float32Array, out?: Float32Array): Features {
    const frames = this.framesFor(samples.length);
    const dims = this.dims;
    const size = frames * dims;
    if (out && out.length < size) {
      throw new RangeError(`fbank output holds ${out.length} floats, needs ${size}`);
    }
    const data = out ? out.subarray(0, size) : new Float32Array(size);
    const o = this.options;
    const scale = o.scaleToInt16 ? 32768 : 1;
    const len = this.frameLength;
    const frame = this.frame;
    const window = this.window;
    const power = this.power;
    const k = o.preemphasis;

    for (let f = 0; f < frames; f++) {
      const start = f * this.frameShift;
      let sum = 0;
      for (let i = 0; i < len; i++) {
        const v = samples[start + i]! * scale;
        frame[i] = v;
        sum += v;
      }
      if (o.removeDcOffset) {
        const mean = sum / len;
        for (let i = 0; i < len; i++) frame[i] = frame[i]! - mean;
      }
      if (k !== 0) {
        for (let i = len - 1; i > 0; i--) frame[i] = frame[i]! - k * frame[i - 1]!;
        frame[0] = frame[0]! - k * frame[0]!;
      }
      for (let i = 0; i < len; i++) frame[i] = frame[i]! * window[i]!;

      this.fft.powerSpectrum(frame, power);

      const rowBase = f * dims;
      for (let b = 0; b < dims; b++) {
        const first = this.filterStart[b]!;
        const n = this.filterLength[b]!;
        const off = this.filterOffset[b]!;
        let energy = 0;
        for (let j = 0; j < n; j++) energy += this.filterWeights[off + j]! * power[first + j]!;
        data[rowBase + b] = Math.log(energy > FLT_EPSILON ? energy : FLT_EPSILON);
      }
    }
    return { frames, dims, data };
  }
}

// One computer for the last options used: the model host always asks with the
// same options, so tables are built once. Capacity 1; a call with different
// options replaces it.
let cached: { key: string; computer: FbankComputer } | null = null;

/**
 * Log mel filterbank features of 16 kHz mono `samples`; defaults are
 * {@link WESPEAKER_FBANK_OPTIONS}. Output is frames × dims, row-major; frames =
 * 1 + floor((N - 400) / 160) for N >= 400 samples at the defaults, else 0.
 */
export function computeFbank(samples: Float32Array, opts: Partial<FbankOptions> = {}): Features {
  const resolved: FbankOptions = { ...WESPEAKER_FBANK_OPTIONS, ...opts };
  const key = JSON.stringify(resolved);
  if (!cached || cached.key !== key) cached = { key, computer: new FbankComputer(resolved) };
  return cached.computer.compute(samples);
}

/**
 * Cepstral mean normalization as WeSpeaker applies it (`feat - feat.mean(0)`):
 * subtracts, per dimension, the mean over all frames. In place; returns
 * `features`. Means are accumulated in float64 (dims numbers of scratch).
 */
export function applyCmn(features: Features): Features {
  const { frames, dims, data } = features;
  if (frames === 0) return features;
  const mean = new Float64Array(dims);
  for (let f = 0; f < frames; f++) {
    const base = f * dims;
    for (let d = 0; d < dims; d++) mean[d] = mean[d]! + data[base + d]!;
  }
  for (let d = 0; d < dims; d++) mean[d] = mean[d]! / frames;
  for (let f = 0; f < frames; f++) {
    const base = f * dims;
    for (let d = 0; d < dims; d++) data[base + d] = data[base + d]! - mean[d]!;
  }
  return features;
}

/**
 * The frames of `features` (computed from samples with `opts`) that lie wholly
 * inside samples [start, end), as a new block: one computation of a long
 * stretch serves many windows of it. Frame f covers [f * shift, f * shift + length).
 */
export function featuresWithin(
  features: Features,
  start: number,
  end: number,
  opts: Partial<FbankOptions> = {},
): Features {
  const resolved: FbankOptions = { ...WESPEAKER_FBANK_OPTIONS, ...opts };
  const shift = Math.round((resolved.sampleRate * resolved.frameShiftMs) / 1000);
  const length = Math.round((resolved.sampleRate * resolved.frameLengthMs) / 1000);
  const first = Math.max(0, Math.ceil(start / shift));
  const last = Math.min(features.frames - 1, Math.floor((end - length) / shift));
  const frames = Math.max(0, last - first + 1);
  const { dims } = features;
  return { frames, dims, data: features.data.slice(first * dims, (first + frames) * dims) };
}
