/**
 * A real-input FFT of a fixed power-of-two size, built for feature extraction:
 * every table and scratch buffer is allocated once in the constructor (sized by
 * `size`), so transforming a frame allocates nothing.
 *
 * Method: the N real samples are packed as N/2 complex numbers
 * (z[n] = x[2n] + i·x[2n+1]), transformed with an iterative radix-2 complex FFT
 * of size N/2, and the N/2+1 non-redundant bins of the real signal's spectrum are
 * recovered from that ("two for one" split). This halves the work of a plain
 * complex FFT with zero imaginary parts. Arithmetic is in float64 so the result
 * is at least as accurate as Kaldi's single-precision one.
 */
export class RealFft {
  /** Transform size N (a power of two, >= 4). */
  readonly size: number;
  /** Number of output bins, N/2 + 1 (DC through Nyquist). */
  readonly bins: number;

  private readonly half: number;
  /** Bit-reversal permutation for the N/2-point complex FFT. */
  private readonly bitReverse: Uint32Array;
  /** cos/sin of -2πk/(N/2) for the complex butterflies, k < N/4. */
  private readonly twCos: Float64Array;
  private readonly twSin: Float64Array;
  /** cos/sin of -2πk/N for the real split, k <= N/2. */
  private readonly splitCos: Float64Array;
  private readonly splitSin: Float64Array;
  /** Scratch: the packed complex sequence, N/2 entries each. */
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 4 || (size & (size - 1)) !== 0) {
      throw new RangeError(`FFT size must be a power of two >= 4, got ${size}`);
    }
    this.size = size;
    this.half = size >> 1;
    this.bins = this.half + 1;
    const m = this.half;

    this.bitReverse = new Uint32Array(m);
    const bits = Math.log2(m);
    for (let i = 0; i < m; i++) {
      let r = 0;
      for (let b = 0, v = i; b < bits; b++, v >>= 1) r = (r << 1) | (v & 1);
      this.bitReverse[i] = r;
    }

    const quarter = Math.max(1, m >> 1);
    this.twCos = new Float64Array(quarter);
    this.twSin = new Float64Array(quarter);
    for (let k = 0; k < quarter; k++) {
      this.twCos[k] = Math.cos((-2 * Math.PI * k) / m);
      this.twSin[k] = Math.sin((-2 * Math.PI * k) / m);
    }

    this.splitCos = new Float64Array(m + 1);
    this.splitSin = new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      this.splitCos[k] = Math.cos((-2 * Math.PI * k) / size);
      this.splitSin[k] = Math.sin((-2 * Math.PI * k) / size);
    }

    this.re = new Float64Array(m);
    this.im = new Float64Array(m);
  }

  /**
   * Spectrum X[k] = Σ x[n]·e^{-2πikn/N} for k = 0..N/2 of the first N samples of
   * `input` (missing samples count as zero). Writes `bins` values to each output.
   */
  forward(input: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    if (outRe.length < this.bins || outIm.length < this.bins) {
      throw new RangeError('FFT output arrays are shorter than size/2 + 1');
    }
    this.transformPacked(input);
    const m = this.half;
    const re = this.re;
    const im = this.im;
    for (let k = 0; k <= m; k++) {
      const a = k === m ? 0 : k;
      const b = k === 0 ? 0 : m - k;
      const ar = re[a]!;
      const ai = im[a]!;
      const br = re[b]!;
      const bi = im[b]!;
      // Even-sample spectrum E = (Z[k] + conj Z[m-k]) / 2,
      // odd-sample spectrum  O = (Z[k] - conj Z[m-k]) / 2i.
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai - bi);
      const or = 0.5 * (ai + bi);
      const oi = -0.5 * (ar - br);
      const c = this.splitCos[k]!;
      const s = this.splitSin[k]!;
      outRe[k] = er + c * or - s * oi;
      outIm[k] = ei + c * oi + s * or;
    }
  }

  /** |X[k]|² for k = 0..N/2, written to `out` (length >= bins). */
  powerSpectrum(input: ArrayLike<number>, out: Float64Array | Float32Array): void {
    if (out.length < this.bins) throw new RangeError('power spectrum output is too short');
    this.transformPacked(input);
    const m = this.half;
    const re = this.re;
    const im = this.im;
    for (let k = 0; k <= m; k++) {
      const a = k === m ? 0 : k;
      const b = k === 0 ? 0 : m - k;
      const ar = re[a]!;
      const ai = im[a]!;
      const br = re[b]!;
      const bi = im[b]!;
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai - bi);
      const or = 0.5 * (ai + bi);
      const oi = -0.5 * (ar - br);
      const c = this.splitCos[k]!;
      const s = this.splitSin[k]!;
      const xr = er + c * or - s * oi;
      const xi = ei + c * oi + s * or;
      out[k] = xr * xr + xi * xi;
    }
  }

  /** Packs x into z[n] = x[2n] + i·x[2n+1] (bit-reversed) and runs the complex FFT. */
  private transformPacked(input: ArrayLike<number>): void {
    const m = this.half;
    const re = this.re;
    const im = this.im;
    const n = input.length;
    for (let i = 0; i < m; i++) {
      const j = this.bitReverse[i]!;
      const e = 2 * i;
      re[j] = e < n ? input[e]! : 0;
      im[j] = e + 1 < n ? input[e + 1]! : 0;
    }
    // Iterative decimation-in-time butterflies.
    for (let len = 2; len <= m; len <<= 1) {
      const halfLen = len >> 1;
      const step = m / len;
      for (let start = 0; start < m; start += len) {
        for (let k = 0, t = 0; k < halfLen; k++, t += step) {
          const wr = this.twCos[t]!;
          const wi = this.twSin[t]!;
          const p = start + k;
          const q = p + halfLen;
          const qr = re[q]!;
          const qi = im[q]!;
          const tr = wr * qr - wi * qi;
          const ti = wr * qi + wi * qr;
          const pr = re[p]!;
          const pi = im[p]!;
          re[q] = pr - tr;
          im[q] = pi - ti;
          re[p] = pr + tr;
          im[p] = pi + ti;
        }
      }
    }
  }
}
