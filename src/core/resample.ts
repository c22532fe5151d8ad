/**
 * Streaming sample-rate conversion of mono audio (capture rate -> 16 kHz for the
 * models), chunk by chunk, with output identical to converting the whole signal
 * at once.
 *
 * Method: band-limited interpolation with a Kaiser-windowed sinc, evaluated as a
 * polyphase filter bank. With the rate ratio reduced to L/M (48000 -> 16000 is
 * 1/3, 44100 -> 16000 is 160/441), output sample n sits exactly at input time
 * t = n·M/L; its value is Σ x[k]·h(t - k) over the 2H input samples around t.
 * t has only L distinct fractional parts, so the coefficients for each are
 * precomputed once (L phases × 2H taps). An integer decimation such as 48k -> 16k
 * has L = 1: a single phase, no interpolation at all.
 *
 * Filter (why these numbers): the band we keep is limited by the lower of the two
 * Nyquist rates, nyq = min(in, out)/2 (8 kHz for 16 kHz output).
 *   - stopband starts at nyq, so nothing folds back into the output band at
 *     more than the stopband level;
 *   - stopband attenuation 50 dB (Kaiser β = 4.53): speech above 8 kHz is itself
 *     20-40 dB below its peak, so aliases land 70+ dB under the speech, below a
 *     laptop microphone's noise floor; the tests demand 40 dB at 9 kHz;
 *   - transition band 0.25·nyq wide (6 kHz -> 8 kHz, cutoff 7 kHz), passband
 *     ripple about ±0.03 dB below 6 kHz. Speech above 6 kHz matters little to
 *     Whisper, and for speaker embeddings CMN removes a fixed per-mel-bin gain.
 * Length follows from Kaiser's estimate N = (A - 8) / (2.285·Δω): 2H = 72 taps
 * at 48 kHz, 68 at 44.1 kHz (2H rounded up to a multiple of 4). This is the
 * trade against speed: the 60 dB / 0.2·nyq design needed 112 taps and missed the
 * 1 hour in 10 s budget on the shared build machine. For an integer decimation
 * (L = 1, e.g. 48k -> 16k) the single phase is symmetric, and the inner loop
 * folds it: 36 multiplies per output sample instead of 72.
 * The filter is zero-phase (centered on t), so output sample n corresponds exactly
 * to input time n·in/out: there is no delay to correct in timestamps. Each phase
 * is normalized to unit DC gain. Output is clamped to [-1, 1] (filter ringing on
 * full-scale input can overshoot slightly).
 *
 * Buffers, all fixed at construction: coefficient table L·2H floats when that is
 * at most 2^18 (1 MiB; every common audio rate qualifies), otherwise the
 * coefficients are computed per output sample (slow but exact; only odd rates
 * such as 47999 Hz hit this); a history window of 2H + BLOCK samples. Outputs
 * are sized by the input chunk.
 */

/** Target rate of every model in the host. */
export const MODEL_SAMPLE_RATE = 16000;

const STOPBAND_DB = 50;
/** Transition band width as a fraction of the narrower Nyquist rate. */
const TRANSITION_FRACTION = 0.25;
/** Input samples appended to the history window per inner pass. */
const BLOCK = 4096;
/** Largest supported ratio between the two rates (e.g. 1024 kHz -> 16 kHz). */
const MAX_RATIO = 64;
/** Largest precomputed coefficient table, in floats (1 MiB). */
const MAX_TABLE_FLOATS = 1 << 18;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (power series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function kaiserBeta(attenuationDb: number): number {
  if (attenuationDb > 50) return 0.1102 * (attenuationDb - 8.7);
  if (attenuationDb >= 21) {
    return 0.5842 * Math.pow(attenuationDb - 21, 0.4) + 0.07886 * (attenuationDb - 21);
  }
  return 0;
}

/** Floor of a/b for non-negative integers, exact even where a/b rounds in float. */
function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

export interface ResamplerOptions {
  inputRate: number;
  /** Defaults to 16000. */
  outputRate?: number;
}

export class StreamingResampler {
  readonly inputRate: number;
  readonly outputRate: number;
  /** Reduced ratio: L output samples for every M input samples. */
  readonly up: number;
  readonly down: number;
  /** Taps per output sample (2H), 0 when the rates are equal. */
  readonly taps: number;

  private readonly halfTaps: number;
  private readonly cutoff: number;
  private readonly beta: number;
  private readonly i0Beta: number;
  /** Phase-major coefficients [phase·taps + j], or null when computed per sample. */
  private readonly table: Float32Array | null;
  /**
   * For L = 1 only: the symmetric single phase folded, folded[d] = h(d) = h(-d)
   * for d = 0..H-1 (h(±H) is 0 at the window's edge), else null.
   */
  private readonly folded: Float64Array | null;
  /** Scratch for one phase when there is no table, and its float64 precursor. */
  private readonly scratch: Float32Array;
  private readonly phaseScratch: Float64Array;
  /** History window: input samples with absolute indices winStart .. winStart+winLen-1. */
  private readonly win: Float64Array;
  private winStart = 0;
  private winLen = 0;
  /** Next output sample: its index, and floor/fraction of its input time n·M/L. */
  private outIndex = 0;
  private base = 0;
  private phase = 0;
  private inCount = 0;
  private readonly stepBase: number;
  private readonly stepPhase: number;

  constructor(opts: ResamplerOptions) {
    const inputRate = opts.inputRate;
    const outputRate = opts.outputRate ?? MODEL_SAMPLE_RATE;
    for (const r of [inputRate, outputRate]) {
      if (!Number.isInteger(r) || r <= 0 || r > 1_000_000) {
        throw new RangeError(`sample rates must be integers in 1..1000000 Hz, got ${r}`);
      }
    }
    if (Math.max(inputRate, outputRate) > MAX_RATIO * Math.min(inputRate, outputRate)) {
      // The filter length grows with the ratio; past this it would be thousands of taps.
      throw new RangeError(`rate ratio ${inputRate}:${outputRate} exceeds ${MAX_RATIO}`);
    }
    this.inputRate = inputRate;
    this.outputRate = outputRate;
    const g = gcd(inputRate, outputRate);
    this.up = outputRate / g;
    this.down = inputRate / g;
    this.stepBase = Math.floor(this.down / this.up);
    this.stepPhase = this.down % this.up;

    if (this.up === this.down) {
      this.halfTaps = 0;
      this.taps = 0;
      this.cutoff = 0;
      this.beta = 0;
      this.i0Beta = 1;
      this.table = null;
      this.folded = null;
      this.scratch = new Float32Array(0);
      this.phaseScratch = new Float64Array(0);
      this.win = new Float64Array(0);
      return;
    }

    // Everything below is in units of input samples.
    const nyq = Math.min(inputRate, outputRate) / 2;
    const transition = (TRANSITION_FRACTION * nyq) / inputRate; // cycles per input sample
    this.cutoff = (nyq - (TRANSITION_FRACTION * nyq) / 2) / inputRate;
    const length = (STOPBAND_DB - 8) / (2.285 * 2 * Math.PI * transition);
    this.halfTaps = Math.ceil(Math.ceil(length / 2) / 2) * 2; // 2H a multiple of 4
    this.taps = 2 * this.halfTaps;
    this.beta = kaiserBeta(STOPBAND_DB);
    this.i0Beta = besselI0(this.beta);

    this.scratch = new Float32Array(this.taps);
    this.phaseScratch = new Float64Array(this.taps);
    if (this.up * this.taps <= MAX_TABLE_FLOATS) {
      this.table = new Float32Array(this.up * this.taps);
      for (let p = 0; p < this.up; p++) {
        this.fillPhase(p, this.scratch);
        this.table.set(this.scratch, p * this.taps);
      }
    } else {
      this.table = null;
    }
    // Phase 0 has tap j at distance d = H - 1 - j, so h(d) is at j = H - 1 - d.
    this.folded =
      this.up === 1 && this.table
        ? Float64Array.from(this.table.slice(0, this.halfTaps)).reverse()
        : null;
    this.win = new Float64Array(this.taps + BLOCK);
    this.reset();
  }

  /** Forgets all input: the next push starts a new stream at time 0. */
  reset(): void {
    this.outIndex = 0;
    this.base = 0;
    this.phase = 0;
    this.inCount = 0;
    // Samples before time 0 are zeros; the first output needs H - 1 of them.
    this.winStart = -(this.halfTaps - 1);
    this.winLen = Math.max(0, this.halfTaps - 1);
    this.win.fill(0);
  }

  /** Input samples accepted since the stream began. */
  get inputSamples(): number {
    return this.inCount;
  }

  /** Output samples produced since the stream began. */
  get outputSamples(): number {
    return this.outIndex;
  }

  /** Output samples a whole stream of `inputLength` samples yields: ceil(n·L/M). */
  outputLengthFor(inputLength: number): number {
    return floorDiv(inputLength * this.up + this.down - 1, this.down);
  }

  /** Upper bound on what one push of `chunkLength` samples can return. */
  maxOutputFor(chunkLength: number): number {
    return floorDiv(chunkLength * this.up, this.down) + 1;
  }

  /**
   * The output sample index at input sample offset `inputOffset`: floor(n·L/M),
   * exact (48000 -> 16000 maps 48000 to 16000, 44100 -> 16000 maps 441 to 160).
   * Output sample k lies at input time k·M/L, so this is the last output sample
   * at or before the input offset. Integers up to 2^53 / L are exact.
   */
  toOutputOffset(inputOffset: number): number {
    return floorDiv(inputOffset * this.up, this.down);
  }

  /** Input time of output sample `outputOffset`, in input samples (may be fractional). */
  toInputOffset(outputOffset: number): number {
    return (outputOffset * this.down) / this.up;
  }

  /**
   * Feeds one chunk (int16 or float samples in [-1, 1]) and returns the output
   * samples that are now complete: those whose filter span lies inside the input
   * received so far. Output therefore lags input by H input samples (36 at
   * 48 kHz, 0.75 ms); {@link flush} releases the rest. Writes into `out` when
   * given (it must hold maxOutputFor(chunk.length) floats) and returns a view of
   * it; otherwise allocates that many floats.
   */
  push(chunk: Int16Array | Float32Array, out?: Float32Array): Float32Array {
    const max = this.maxOutputFor(chunk.length);
    if (out && out.length < max) {
      throw new RangeError(`resampler output holds ${out.length} samples, needs ${max}`);
    }
    const dst = out ?? new Float32Array(max);
    const scale = chunk instanceof Int16Array ? 1 / 32768 : 1;
    if (this.taps === 0) {
      for (let i = 0; i < chunk.length; i++) dst[i] = chunk[i]! * scale;
      this.inCount += chunk.length;
      this.outIndex += chunk.length;
      return dst.subarray(0, chunk.length);
    }
    let written = 0;
    for (let pos = 0; pos < chunk.length;) {
      const n = Math.min(BLOCK, chunk.length - pos);
      this.append(chunk, pos, n, scale);
      pos += n;
      written = this.produce(dst, written);
    }
    return dst.subarray(0, written);
  }

  /**
   * Ends the stream: emits the remaining outputs, treating input after the end as
   * silence, so that all pushes plus flush equal {@link resample} of the whole
   * signal. Then resets for a new stream.
   */
  flush(out?: Float32Array): Float32Array {
    const remaining = this.outputLengthFor(this.inCount) - this.outIndex;
    if (out && out.length < remaining) {
      throw new RangeError(`resampler output holds ${out.length} samples, needs ${remaining}`);
    }
    const dst = out ?? new Float32Array(Math.max(0, remaining));
    let written = 0;
    if (this.taps > 0 && remaining > 0) {
      const end = this.inCount;
      const total = this.outputLengthFor(end);
      // Zeros are appended in blocks until every remaining output's span is covered.
      const zeros = new Float32Array(Math.min(BLOCK, this.halfTaps + 1));
      while (this.outIndex < total) {
        this.append(zeros, 0, zeros.length, 1);
        written = this.produce(dst, written, total);
      }
    }
    this.reset();
    return dst.subarray(0, written);
  }

  /** Appends n samples of src (from `from`) to the history window, compacting it first. */
  private append(src: Int16Array | Float32Array, from: number, n: number, scale: number): void {
    // Everything before the next output's first tap is no longer needed.
    const keepFrom = this.base - this.halfTaps + 1;
    const drop = keepFrom - this.winStart;
    if (drop > 0) {
      const win = this.win;
      win.copyWithin(0, drop, this.winLen);
      this.winLen -= drop;
      this.winStart = keepFrom;
    }
    const win = this.win;
    let at = this.winLen;
    if (scale === 1) {
      for (let i = 0; i < n; i++) win[at++] = src[from + i]!;
    } else {
      for (let i = 0; i < n; i++) win[at++] = src[from + i]! * scale;
    }
    this.winLen = at;
    this.inCount += n;
  }

  /**
   * Computes outputs while their last tap (input sample base + H) is inside the
   * window and, when `limit` is given, while fewer than `limit` outputs exist.
   * Returns the new write position in dst.
   */
  private produce(dst: Float32Array, written: number, limit = Infinity): number {
    const h = this.halfTaps;
    const win = this.win;
    const winStart = this.winStart;
    const windowEnd = winStart + this.winLen;
    const count = Math.max(0, Math.min(limit - this.outIndex, this.outputsBefore(windowEnd - h)));
    const folded = this.folded;
    if (folded) {
      // L = 1: base advances by M per output, phase stays 0.
      const step = this.stepBase;
      let center = this.base - winStart;
      for (let n = 0; n < count; n++, center += step) {
        // Four accumulators break the add dependency chain.
        let a0 = folded[0]! * win[center]!;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        let d = 1;
        for (; d + 3 < h; d += 4) {
          a0 += folded[d]! * (win[center - d]! + win[center + d]!);
          a1 += folded[d + 1]! * (win[center - d - 1]! + win[center + d + 1]!);
          a2 += folded[d + 2]! * (win[center - d - 2]! + win[center + d + 2]!);
          a3 += folded[d + 3]! * (win[center - d - 3]! + win[center + d + 3]!);
        }
        for (; d < h; d++) a0 += folded[d]! * (win[center - d]! + win[center + d]!);
        const v = a0 + a1 + (a2 + a3);
        dst[written++] = v > 1 ? 1 : v < -1 ? -1 : v;
      }
      this.base += count * step;
      this.outIndex += count;
      return written;
    }
    const taps = this.taps;
    const table = this.table;
    for (let n = 0; n < count; n++) {
      const first = this.base - h + 1 - winStart;
      let coeffs: Float32Array;
      let c0: number;
      if (table) {
        coeffs = table;
        c0 = this.phase * taps;
      } else {
        this.fillPhase(this.phase, this.scratch);
        coeffs = this.scratch;
        c0 = 0;
      }
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let j = 0; j < taps; j += 4) {
        a0 += coeffs[c0 + j]! * win[first + j]!;
        a1 += coeffs[c0 + j + 1]! * win[first + j + 1]!;
        a2 += coeffs[c0 + j + 2]! * win[first + j + 2]!;
        a3 += coeffs[c0 + j + 3]! * win[first + j + 3]!;
      }
      const v = a0 + a1 + (a2 + a3);
      dst[written++] = v > 1 ? 1 : v < -1 ? -1 : v;
      this.outIndex++;
      this.base += this.stepBase;
      this.phase += this.stepPhase;
      if (this.phase >= this.up) {
        this.phase -= this.up;
        this.base++;
      }
    }
    return written;
  }

  /**
   * How many outputs from the next one on have base < `endBase`, i.e. input
   * time floor(n·M/L) < endBase: n < ceil(endBase·L/M).
   */
  private outputsBefore(endBase: number): number {
    if (endBase <= 0) return 0;
    return floorDiv(endBase * this.up + this.down - 1, this.down) - this.outIndex;
  }

  /**
   * Coefficients for fractional time p/L: tap j (0..2H-1) multiplies input sample
   * base + j - H + 1, at distance d = p/L - (j - H + 1) from the output's time.
   */
  private fillPhase(p: number, out: Float32Array): void {
    const h = this.halfTaps;
    const frac = p / this.up;
    const fc = this.cutoff;
    let sum = 0;
    const tmp = this.phaseScratch;
    for (let j = 0; j < this.taps; j++) {
      const d = frac - (j - h + 1);
      const x = 2 * fc * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const r = d / h;
      const w = r * r >= 1 ? 0 : besselI0(this.beta * Math.sqrt(1 - r * r)) / this.i0Beta;
      const v = 2 * fc * sinc * w;
      tmp[j] = v;
      sum += v;
    }
    for (let j = 0; j < this.taps; j++) out[j] = tmp[j]! / sum;
  }
}

/** Converts a whole signal at once; equal to pushing it in any chunks and flushing. */
export function resample(
  input: Int16Array | Float32Array,
  inputRate: number,
  outputRate: number = MODEL_SAMPLE_RATE,
): Float32Array {
  const r = new StreamingResampler({ inputRate, outputRate });
  const total = r.outputLengthFor(input.length);
  const out = new Float32Array(total);
  const head = r.push(input);
  out.set(head, 0);
  out.set(r.flush(), head.length);
  return out;
}
