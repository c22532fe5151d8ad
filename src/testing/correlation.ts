/**
 * Normalised cross-correlation of a played signal against a recording, to check
 * that the recording contains what was played: for every lag, the Pearson-style
 * correlation of `played` with the same-length window of `recorded`, maximised
 * over lags. 1 means identical up to gain; the FFT keeps it O(n log n).
 */
export interface CorrelationResult {
  /** Highest normalised correlation over all lags, in [-1, 1]. */
  peak: number;
  /** Lag of the peak in samples: where `played` starts within `recorded`. */
  lag: number;
}

export function bestNormalizedCorrelation(
  recorded: Float32Array,
  played: Float32Array,
): CorrelationResult {
  const n = recorded.length;
  const m = played.length;
  if (m === 0 || n < m) throw new Error('the recording is shorter than what was played');
  let size = 1;
  while (size < n + m) size <<= 1;
  const ar = new Float64Array(size);
  const ai = new Float64Array(size);
  const br = new Float64Array(size);
  const bi = new Float64Array(size);
  ar.set(recorded);
  // Reverse `played` so that the convolution is the cross-correlation.
  for (let i = 0; i < m; i++) br[i] = played[m - 1 - i]!;
  fft(ar, ai, false);
  fft(br, bi, false);
  for (let i = 0; i < size; i++) {
    const r = ar[i]! * br[i]! - ai[i]! * bi[i]!;
    const im = ar[i]! * bi[i]! + ai[i]! * br[i]!;
    ar[i] = r;
    ai[i] = im;
  }
  fft(ar, ai, true);

  let playedEnergy = 0;
  for (let i = 0; i < m; i++) playedEnergy += played[i]! * played[i]!;
  // Prefix sums of the recording's energy give each window's energy in O(1).
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i]! + recorded[i]! * recorded[i]!;

  let peak = -Infinity;
  let lag = 0;
  for (let k = 0; k + m <= n; k++) {
    const dot = ar[k + m - 1]!;
    const windowEnergy = prefix[k + m]! - prefix[k]!;
    const denom = Math.sqrt(windowEnergy * playedEnergy);
    if (denom <= 1e-12) continue;
    const c = dot / denom;
    if (c > peak) {
      peak = c;
      lag = k;
    }
  }
  return { peak, lag };
}

/** In-place iterative radix-2 complex FFT; `inverse` scales by 1/size. */
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let j = 0; j < len / 2; j++) {
        const a = i + j;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i] = re[i]! / n;
      im[i] = im[i]! / n;
    }
  }
}
