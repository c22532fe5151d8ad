/**
 * Overlapped speech, from speaker embeddings alone. A window in which two
 * people talk at once gives an embedding that lies between the two voices:
 * closer to the plane through the two speakers' centroids than to either
 * centroid by itself. For each window this fits the embedding as a
 * non-negative mix of the best pair of centroids (least squares on unit
 * vectors) and calls it overlapped when the mix explains it clearly better
 * than the nearest centroid alone (`minGain`, in cosine) and the weaker voice
 * holds a real share of the mix (`minShare`). The window keeps the dominant
 * speaker (the larger coefficient, which is the nearest centroid).
 *
 * This is a cue, not a trained overlap detector: it needs centroids, so it
 * runs where the speakers are known (the re-clustering at stop), and it can
 * only see what the embedding model separates. Its thresholds are chosen on
 * the development meeting (src/testing/synthetic-meeting.ts).
 */

export interface OverlapConfig {
  /** Least cosine the two-voice mix must add over the nearest centroid. */
  minGain: number;
  /** Least share of the weaker voice in the mix, 0..0.5. */
  minShare: number;
}

/**
 * Chosen on the development meeting (6 overlapped stretches in 28 turns),
 * with the speakers estimated as by default: the best F1 of the segment marks
 * among minGain 0.005, 0.01, 0.02 and minShare 0.15, 0.25 (bench/README.md,
 * diarization). With the generated embedding model the cue is weak: there it
 * marks about half of the overlapped segments, and about half of its marks
 * are right.
 */
export const DEFAULT_OVERLAP: Readonly<OverlapConfig> = Object.freeze({
  minGain: 0.01,
  minShare: 0.15,
});

export interface OverlapFit {
  /** The nearest centroid: the window's speaker. */
  dominant: number;
  /** The other voice of the best two-voice mix, or -1 when no mix beats the nearest centroid. */
  second: number;
  /** Cosine between the window and the nearest centroid. */
  single: number;
  /** Cosine between the window and its best two-voice mix (>= single). */
  mixed: number;
  /** The weaker voice's share of the mix's coefficients, 0..0.5. */
  share: number;
}

/**
 * The best explanation of `window` by one centroid and by a non-negative mix
 * of two. The centroids are L2-normalised (the clustering's convention);
 * `centroids` must not be empty. Cost: k + 1 dot products (the pair
 * cosines come from `centroidCosines`, computed once per set of centroids),
 * k being the speakers found.
 */
export function fitTwoVoices(
  window: ArrayLike<number>,
  centroids: readonly ArrayLike<number>[],
  centroidCosines: CentroidCosines = centroidCosinesOf(centroids),
): OverlapFit {
  if (centroids.length === 0) throw new RangeError('no centroids to fit a window to');
  if (window.length !== centroids[0]!.length) {
    throw new RangeError(`embedding sizes differ: ${window.length} and ${centroids[0]!.length}`);
  }
  // Cosines: the window need not be unit length (a silent one is zero: no fit).
  const norm = Math.sqrt(dot(window, window));
  const toCentroid = centroids.map((c) => (norm > 0 ? dot(window, c) / norm : 0));
  let dominant = 0;
  for (let i = 1; i < toCentroid.length; i++) {
    if (toCentroid[i]! > toCentroid[dominant]!) dominant = i;
  }
  const single = toCentroid[dominant]!;
  const fit: OverlapFit = { dominant, second: -1, single, mixed: single, share: 0 };
  for (let j = 0; j < centroids.length; j++) {
    if (j === dominant) continue;
    // Normal equations of w ~ a*c_d + b*c_j with |c| = 1: [1 g; g 1][a b]' = [r_d r_j]'.
    const g = centroidCosines.between(dominant, j);
    const det = 1 - g * g;
    if (!(det > 1e-9)) continue; // the same direction: no plane to fit
    const rd = single;
    const rj = toCentroid[j]!;
    const a = (rd - g * rj) / det;
    const b = (rj - g * rd) / det;
    if (!(a > 0 && b > 0)) continue; // the best point of the plane is not a mix of the two
    // |projection|² = r' G^-1 r, the squared cosine between w and the fitted mix.
    const mixed = Math.sqrt(Math.max(0, a * rd + b * rj));
    if (mixed > fit.mixed) {
      fit.second = j;
      fit.mixed = mixed;
      fit.share = Math.min(a, b) / (a + b);
    }
  }
  return fit;
}

export function isOverlapped(fit: OverlapFit, config: OverlapConfig = DEFAULT_OVERLAP): boolean {
  return (
    fit.second >= 0 && fit.mixed - fit.single >= config.minGain && fit.share >= config.minShare
  );
}

/** The cosines between every pair of centroids, computed once per set of centroids. */
export interface CentroidCosines {
  between(i: number, j: number): number;
}

export function centroidCosinesOf(centroids: readonly ArrayLike<number>[]): CentroidCosines {
  const k = centroids.length;
  // k² numbers, k being the speakers found (at most a few dozen).
  const table = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      const c = i === j ? 1 : dot(centroids[i]!, centroids[j]!);
      table[i * k + j] = c;
      table[j * k + i] = c;
    }
  }
  return { between: (i, j) => table[i * k + j]! };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new RangeError(`embedding sizes differ: ${a.length} and ${b.length}`);
  }
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
