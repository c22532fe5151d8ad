/**
 * Speaker clustering of embeddings (WeSpeaker ResNet34: 256 floats per ~1.5 s of
 * speech) by cosine similarity: an online clusterer that labels speech while a
 * meeting runs, and an agglomerative one that re-clusters everything at stop.
 */
import { maxWeightAssignment } from './assignment';

/**
 * Default cosine similarity at which an embedding joins a speaker. For WeSpeaker
 * ResNet34 on VoxCeleb, same-speaker trials of whole utterances score mostly
 * above ~0.5 and different-speaker trials mostly below ~0.3 (its EER threshold is
 * around 0.3-0.4). Our windows are short (1.5 s), so scores are noisier and lower;
 * comparing against a centroid (a mean of many windows) raises same-speaker
 * scores again. 0.5 leans towards splitting a speaker in two, which the final
 * agglomerative pass can repair, over merging two people, which nothing repairs.
 * A starting point: tune it on recorded meetings with the DER benchmark.
 */
export const DEFAULT_ONLINE_THRESHOLD = 0.5;

/** Default number of speakers the online clusterer holds. */
export const DEFAULT_MAX_SPEAKERS = 16;

/**
 * Largest number of items clustered with a full similarity matrix: n² float32
 * similarities, 16 MiB at 2048 (about 50 minutes of speech in 1.5 s windows).
 * Above it, see {@link agglomerativeCluster}.
 */
export const MAX_AGGLOMERATIVE_ITEMS = 2048;

/** Cosine of the angle between a and b; 0 when either is all zeros. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new RangeError(`embedding lengths differ: ${a.length} vs ${b.length}`);
  }
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

/** a / |a| in float64; throws on a zero or non-finite vector (a model failure). */
function normalized(a: ArrayLike<number>): Float64Array {
  return normalizeInto(a, new Float64Array(a.length));
}

/** normalized(a), written into `out` (of a's length) and returned. */
function normalizeInto(a: ArrayLike<number>, out: Float64Array): Float64Array {
  let sq = 0;
  for (let i = 0; i < a.length; i++) sq += a[i]! * a[i]!;
  if (!(sq > 0) || !Number.isFinite(sq)) {
    throw new RangeError('embedding is all zeros or not finite');
  }
  const inv = 1 / Math.sqrt(sq);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * inv;
  return out;
}

export interface OnlineClustererOptions {
  /** Cosine similarity to a centroid needed to join it; default {@link DEFAULT_ONLINE_THRESHOLD}. */
  threshold: number;
  /**
   * Capacity in speakers; default {@link DEFAULT_MAX_SPEAKERS}. When full, a new
   * voice is assigned to the nearest speaker without updating that speaker's
   * centroid (a forced match must not drag a real speaker's centroid away).
   */
  maxSpeakers: number;
}

/**
 * Assigns each embedding, as it arrives, to the most similar speaker centroid if
 * the similarity reaches the threshold, else to a new speaker. A centroid is the
 * running mean of its members' unit-normalized embeddings. Memory: maxSpeakers ×
 * dims float64 sums, fixed.
 */
export class OnlineSpeakerClusterer {
  readonly threshold: number;
  readonly maxSpeakers: number;
  private readonly sums: Float64Array[] = [];
  private readonly counts: number[] = [];
  private dims = -1;

  constructor(opts: Partial<OnlineClustererOptions> = {}) {
    this.threshold = opts.threshold ?? DEFAULT_ONLINE_THRESHOLD;
    this.maxSpeakers = opts.maxSpeakers ?? DEFAULT_MAX_SPEAKERS;
    if (!(this.threshold >= -1 && this.threshold <= 1)) {
      throw new RangeError(
        `threshold must be a cosine similarity in [-1, 1], got ${this.threshold}`,
      );
    }
    if (!Number.isInteger(this.maxSpeakers) || this.maxSpeakers < 1) {
      throw new RangeError(`maxSpeakers must be a positive integer, got ${this.maxSpeakers}`);
    }
  }

  /** Number of speakers so far. */
  get speakerCount(): number {
    return this.sums.length;
  }

  /** Each speaker's centroid (mean of its unit embeddings), as new arrays. */
  get centroids(): Float32Array[] {
    return this.sums.map((sum, k) => Float32Array.from(sum, (v) => v / this.counts[k]!));
  }

  /** How many embeddings updated each speaker's centroid. */
  get memberCounts(): readonly number[] {
    return this.counts.slice();
  }

  /** The speaker index for `embedding` (0-based, in order of first appearance). */
  assign(embedding: Float32Array): number {
    if (this.dims === -1) this.dims = embedding.length;
    else if (embedding.length !== this.dims) {
      throw new RangeError(`embedding has ${embedding.length} dims, expected ${this.dims}`);
    }
    const unit = normalized(embedding);
    let best = -1;
    let bestSim = -Infinity;
    for (let k = 0; k < this.sums.length; k++) {
      const sim = cosineSimilarity(unit, this.sums[k]!);
      if (sim > bestSim) {
        bestSim = sim;
        best = k;
      }
    }
    if (best >= 0 && bestSim >= this.threshold) {
      this.addTo(best, unit);
      return best;
    }
    if (this.sums.length < this.maxSpeakers) {
      this.sums.push(unit);
      this.counts.push(1);
      return this.sums.length - 1;
    }
    return best; // full: nearest speaker, centroid untouched
  }

  /** Forgets all speakers. */
  reset(): void {
    this.sums.length = 0;
    this.counts.length = 0;
    this.dims = -1;
  }

  private addTo(k: number, unit: Float64Array): void {
    const sum = this.sums[k]!;
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + unit[i]!;
    this.counts[k] = this.counts[k]! + 1;
  }
}

export interface AgglomerativeOptions {
  /**
   * Without `clusters`: merging stops when no two clusters have average
   * similarity >= threshold. Not used when `clusters` is given.
   */
  threshold: number;
  /**
   * The number of clusters wanted (a whole number >= 1), for when a person knows
   * how many speakers there are: the dendrogram is cut to exactly
   * min(clusters, items) clusters whatever the similarities.
   */
  clusters?: number;
  /**
   * Most items one pass clusters with a full similarity matrix (at least 2);
   * default {@link MAX_AGGLOMERATIVE_ITEMS}. Smaller in tests of the blockwise path.
   */
  blockSize?: number;
  linkage?: 'average';
}

/** A clustering and the dendrogram level of each merge of its final pass. */
export interface AgglomerativeResult {
  /** One label per input, numbered by first appearance. */
  labels: number[];
  /**
   * Items of the final pass: the inputs, or fewer when the blockwise path merged
   * some first; 0 when the clustering ended on a pass of several blocks (only
   * without `clusters`, when such a pass merged nothing).
   */
  finalPassItems: number;
  /**
   * Similarity of every merge of the final pass (finalPassItems - 1 of them, or
   * none when finalPassItems is 0), highest first: the order in which the greedy
   * "merge the closest pair" procedure applies them, whether or not the cut
   * applied them. Going from k + 1 clusters to k merges at
   * mergeSimilarities[finalPassItems - k - 1].
   */
  mergeSimilarities: number[];
}

/**
 * Average-linkage agglomerative clustering on cosine similarity. Returns one label
 * per embedding, numbered by first appearance (embedding 0 is in cluster 0).
 *
 * Average linkage of unit vectors has a closed form: the mean similarity between
 * clusters A and B equals meanA · meanB, the dot product of their (unnormalized)
 * mean unit vectors. The core below works on weighted means, which is what makes
 * the large case possible: above `blockSize` ({@link MAX_AGGLOMERATIVE_ITEMS})
 * embeddings they are clustered in consecutive blocks of that size first, and the
 * resulting clusters (as weighted means) are then clustered together, repeatedly
 * while more than the cap remain. Memory stays at cap² floats; the result is
 * exact average linkage except that merges inside a block happen before merges
 * across blocks.
 *
 * Without `clusters`, every pass merges at or above `threshold`; if a pass of
 * several blocks merges nothing, its clusters are final. With `clusters`,
 * `threshold` is not used at all: each intermediate pass cuts every block to
 * half its items (its tightest merges, which an exact cut to a handful of
 * speakers makes too, whereas a threshold could merge two voices a person said
 * were two), so every pass shrinks the items and the last one is a single block,
 * which is cut to `clusters`.
 */
export function agglomerativeCluster(
  embeddings: Float32Array[],
  opts: AgglomerativeOptions,
): number[] {
  return agglomerativeClusterWithMerges(embeddings, opts).labels;
}

/** {@link agglomerativeCluster}, with the merge levels of its final pass. */
export function agglomerativeClusterWithMerges(
  embeddings: Float32Array[],
  opts: AgglomerativeOptions,
): AgglomerativeResult {
  const cut = dendrogramCut(opts);
  const n = embeddings.length;
  if (n === 0) return { labels: [], finalPassItems: 0, mergeSimilarities: [] };
  const dims = embeddings[0]!.length;
  for (const e of embeddings) {
    if (e.length !== dims) throw new RangeError('embeddings have different lengths');
  }
  // Initially each embedding is its own item, of weight 1.
  return clusterWeightedMeans(embeddings.map(normalized), new Array<number>(n).fill(1), cut);
}

/**
 * Average-linkage clustering of groups that are already merged: each item is
 * the mean of its group's unit embeddings (not normalized again: its length
 * carries how tight the group is) and its weight is the group's size. The
 * similarity of two items is then exactly the average similarity of their
 * members, so the result is the average linkage of all members under the
 * constraint that each group stays together. With every weight 1 and unit
 * means it is {@link agglomerativeCluster} (options included). Returns one label
 * per item, numbered by first appearance.
 */
export function agglomerativeClusterWeighted(
  means: readonly ArrayLike<number>[],
  weights: readonly number[],
  opts: AgglomerativeOptions,
): number[] {
  return agglomerativeClusterWeightedWithMerges(means, weights, opts).labels;
}

/** {@link agglomerativeClusterWeighted}, with the merge levels of its final pass. */
export function agglomerativeClusterWeightedWithMerges(
  means: readonly ArrayLike<number>[],
  weights: readonly number[],
  opts: AgglomerativeOptions,
): AgglomerativeResult {
  const cut = dendrogramCut(opts);
  if (means.length !== weights.length) {
    throw new RangeError(`${means.length} means but ${weights.length} weights`);
  }
  if (means.length === 0) return { labels: [], finalPassItems: 0, mergeSimilarities: [] };
  const dims = means[0]!.length;
  for (const m of means) {
    if (m.length !== dims) throw new RangeError('means have different lengths');
  }
  for (const w of weights) {
    if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`weight ${w} is not positive`);
  }
  // Read only, never written: float64 means are used as they are.
  return clusterWeightedMeans(
    means.map((m) => (m instanceof Float64Array ? m : Float64Array.from(m))),
    weights.slice(),
    cut,
  );
}

/** Where to cut each pass's dendrogram: validated options. */
interface DendrogramCut {
  threshold: number;
  clusters: number | undefined;
  blockSize: number;
}

function dendrogramCut(opts: AgglomerativeOptions): DendrogramCut {
  if (opts.linkage !== undefined && opts.linkage !== 'average') {
    throw new RangeError(`unsupported linkage ${String(opts.linkage)}`);
  }
  const { threshold, clusters } = opts;
  const blockSize = opts.blockSize ?? MAX_AGGLOMERATIVE_ITEMS;
  if (clusters !== undefined && !(Number.isInteger(clusters) && clusters >= 1)) {
    throw new RangeError(`clusters must be a whole number >= 1, got ${clusters}`);
  }
  if (!(Number.isInteger(blockSize) && blockSize >= 2)) {
    throw new RangeError(`blockSize must be a whole number >= 2, got ${blockSize}`);
  }
  return { threshold, clusters, blockSize };
}

/** The blockwise average linkage behind both entry points (see agglomerativeCluster). */
function clusterWeightedMeans(
  initialMeans: Float64Array[],
  initialWeights: number[],
  cut: DendrogramCut,
): AgglomerativeResult {
  const n = initialMeans.length;
  const dims = initialMeans[0]!.length;
  const { blockSize } = cut;
  // Items: the mean unit vector of a group, its weight, and which group each
  // input belongs to.
  let means: Float64Array[] = initialMeans;
  let weights: number[] = initialWeights;
  let itemOf: number[] = Array.from({ length: n }, (_, i) => i);
  let finalPassItems = 0;
  let mergeSimilarities: number[] = [];

  for (;;) {
    const count = means.length;
    const singleBlock = count <= blockSize;
    const labels: number[] = new Array<number>(count);
    let next = 0;
    for (let start = 0; start < count; start += blockSize) {
      const end = Math.min(count, start + blockSize);
      const size = end - start;
      const tree = averageLinkage(means.slice(start, end), weights.slice(start, end));
      let merges: number;
      if (cut.clusters === undefined) merges = mergesAtOrAbove(tree, cut.threshold);
      else if (singleBlock) merges = size - Math.min(cut.clusters, size);
      else merges = Math.floor(size / 2);
      const block = cutDendrogram(tree, merges);
      if (singleBlock) {
        finalPassItems = size;
        mergeSimilarities = Array.from(tree.similarity);
      }
      let blockMax = -1;
      for (let i = 0; i < block.length; i++) {
        labels[start + i] = next + block[i]!;
        blockMax = Math.max(blockMax, block[i]!);
      }
      next += blockMax + 1;
    }
    itemOf = itemOf.map((item) => labels[item]!);
    // One block means the pass saw every pair: done. A pass that merged nothing
    // would repeat itself: done too (never with `clusters`: halving blocks of
    // at least 2 always merges). The merged means are then not needed.
    if (singleBlock || next === count) break;
    // Merge items by label into weighted means.
    const newMeans: Float64Array[] = [];
    const newWeights: number[] = [];
    for (let c = 0; c < next; c++) {
      newMeans.push(new Float64Array(dims));
      newWeights.push(0);
    }
    for (let i = 0; i < count; i++) {
      const c = labels[i]!;
      const m = newMeans[c]!;
      const w = weights[i]!;
      const src = means[i]!;
      for (let d = 0; d < dims; d++) m[d] = m[d]! + w * src[d]!;
      newWeights[c] = newWeights[c]! + w;
    }
    for (let c = 0; c < next; c++) {
      const m = newMeans[c]!;
      const w = newWeights[c]!;
      for (let d = 0; d < dims; d++) m[d] = m[d]! / w;
    }
    means = newMeans;
    weights = newWeights;
  }
  return { labels: relabelByFirstAppearance(itemOf), finalPassItems, mergeSimilarities };
}

/**
 * A dendrogram over n items: its n - 1 merges in greedy order (similarity
 * descending; on equal similarity, a merge before any merge that contains it).
 * Merge m joins the clusters that contain items a[m] and b[m].
 */
interface Dendrogram {
  items: number;
  a: Int32Array;
  b: Int32Array;
  similarity: Float32Array;
}

/**
 * Average linkage over items given as weighted mean unit vectors (at most
 * MAX_AGGLOMERATIVE_ITEMS). Similarity of clusters = dot product of their means;
 * merging A and B gives sim(A∪B, C) = (wA·sim(A,C) + wB·sim(B,C)) / (wA + wB)
 * (Lance-Williams for average linkage).
 *
 * The full dendrogram is built with the nearest-neighbour chain algorithm, O(n²)
 * time: follow each cluster's most similar neighbour until two clusters are each
 * other's nearest, and merge those. Average linkage is reducible (a merge never
 * creates a pair more similar than the pair merged), so merge similarities only
 * fall along the tree, and the chain's merges sorted by similarity are the
 * order of the greedy "merge the closest pair" procedure: applying the first m
 * of them gives exactly its clusters after m merges.
 */
function averageLinkage(means: Float64Array[], weights: number[]): Dendrogram {
  const n = means.length;
  const sim = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = means[i]!;
    for (let j = i + 1; j < n; j++) {
      const b = means[j]!;
      let dot = 0;
      for (let d = 0; d < a.length; d++) dot += a[d]! * b[d]!;
      sim[i * n + j] = dot;
      sim[j * n + i] = dot;
    }
  }
  const size = Float64Array.from(weights);
  const active = new Uint8Array(n).fill(1);
  // The merges in the order the chain finds them: n - 1 in all.
  const mergedA = new Int32Array(Math.max(0, n - 1));
  const mergedB = new Int32Array(Math.max(0, n - 1));
  const mergedSim = new Float32Array(Math.max(0, n - 1));
  const chain = new Int32Array(n);
  let chainLength = 0;
  let nextStart = 0;

  for (let merges = 0; merges < n - 1;) {
    if (chainLength === 0) {
      while (!active[nextStart]) nextStart++;
      chain[chainLength++] = nextStart;
    }
    const a = chain[chainLength - 1]!;
    // Prefer the previous chain element on ties so the chain cannot cycle.
    const prev = chainLength >= 2 ? chain[chainLength - 2]! : -1;
    let b = prev;
    let s = prev >= 0 ? sim[a * n + prev]! : -Infinity;
    const row = a * n;
    for (let k = 0; k < n; k++) {
      if (k !== a && active[k] && sim[row + k]! > s) {
        s = sim[row + k]!;
        b = k;
      }
    }
    if (b !== prev) {
      chain[chainLength++] = b;
      continue;
    }
    // a and b are reciprocal nearest neighbours: merge b into a.
    chainLength -= 2;
    const wa = size[a]!;
    const wb = size[b]!;
    active[b] = 0;
    size[a] = wa + wb;
    for (let k = 0; k < n; k++) {
      if (!active[k] || k === a) continue;
      // A convex combination rounded to float32 never exceeds s, so a later
      // merge involving a is never more similar than this one.
      const v = (wa * sim[a * n + k]! + wb * sim[b * n + k]!) / (wa + wb);
      sim[a * n + k] = v;
      sim[k * n + a] = v;
    }
    mergedA[merges] = a;
    mergedB[merges] = b;
    mergedSim[merges] = s;
    merges++;
  }
  // Stable on ties: the chain makes a merge before any merge containing it.
  const order = Array.from(mergedSim.keys()).sort((x, y) => mergedSim[y]! - mergedSim[x]! || x - y);
  return {
    items: n,
    a: Int32Array.from(order, (m) => mergedA[m]!),
    b: Int32Array.from(order, (m) => mergedB[m]!),
    similarity: Float32Array.from(order, (m) => mergedSim[m]!),
  };
}

/** How many of the tree's merges (a prefix, by its order) are at or above threshold. */
function mergesAtOrAbove(tree: Dendrogram, threshold: number): number {
  let m = 0;
  while (m < tree.similarity.length && tree.similarity[m]! >= threshold) m++;
  return m;
}

/** The clusters after the tree's first `merges` merges, numbered by first appearance. */
function cutDendrogram(tree: Dendrogram, merges: number): number[] {
  const parent = Int32Array.from({ length: tree.items }, (_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  for (let m = 0; m < merges; m++) parent[root(tree.b[m]!)] = root(tree.a[m]!);
  return relabelByFirstAppearance(Array.from({ length: tree.items }, (_, i) => root(i)));
}

/**
 * Renames labels so that the first label seen becomes 0, the next new one 1, and
 * so on ("speaker 1 is whoever spoke first"). Negative labels (no speaker) pass
 * through unchanged.
 */
export function relabelByFirstAppearance(labels: readonly number[]): number[] {
  const map = new Map<number, number>();
  return labels.map((label) => {
    if (label < 0) return label;
    let mapped = map.get(label);
    if (mapped === undefined) {
      mapped = map.size;
      map.set(label, mapped);
    }
    return mapped;
  });
}

/**
 * Most clusters (or previous labels, whichever is more) for which
 * {@link matchLabelsToPrevious} finds an optimal matching: the Hungarian
 * algorithm on a square matrix of this side, O(side³) ≈ 2·10⁶ steps and
 * side² float64 (128 KiB). Above it the matching is greedy.
 */
export const MAX_EXACT_LABEL_MATCH = 128;

/**
 * Renames the clusters of `next` so that as many items as possible keep the label
 * they had in `previous` (one label per item in both; labels are whole numbers,
 * a negative one means "no speaker" and passes through unchanged). With `weights`
 * (one per item, >= 0, such as segment durations) the weight of the unchanged
 * items is maximized instead of their number.
 *
 * The renaming is a one-to-one assignment of next's clusters to previous labels
 * that maximizes the overlap, found exactly (Hungarian algorithm) while neither
 * side has more than {@link MAX_EXACT_LABEL_MATCH} labels; above it, greedily
 * (the largest overlaps first, each cluster and label used once), which keeps at
 * least half the optimum. A cluster that shares no weight with its assigned
 * label, or has none, is unmatched: the unmatched clusters, in order of first
 * appearance, get the lowest labels that no matched cluster has, so a speaker
 * shown live keeps their label unless the re-clustering really moved them.
 */
export function matchLabelsToPrevious(
  previous: ArrayLike<number>,
  next: ArrayLike<number>,
  weights?: ArrayLike<number>,
): number[] {
  if (previous.length !== next.length) {
    throw new RangeError(`${previous.length} previous labels but ${next.length} next`);
  }
  if (weights !== undefined && weights.length !== next.length) {
    throw new RangeError(`${next.length} labels but ${weights.length} weights`);
  }
  // Dense indices of next's clusters (by first appearance) and of previous
  // labels; at most one entry per item each.
  const clusterIndex = new Map<number, number>();
  const labelIndex = new Map<number, number>();
  const labelOf: number[] = [];
  for (let i = 0; i < next.length; i++) {
    const c = next[i]!;
    const p = previous[i]!;
    if (!Number.isInteger(c) || !Number.isInteger(p)) {
      throw new RangeError(`labels must be whole numbers, got ${p} and ${c} at ${i}`);
    }
    const w = weights?.[i] ?? 1;
    if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`weight ${w} at ${i}`);
    if (c >= 0 && !clusterIndex.has(c)) clusterIndex.set(c, clusterIndex.size);
    if (p >= 0 && !labelIndex.has(p)) {
      labelIndex.set(p, labelOf.length);
      labelOf.push(p);
    }
  }
  // Overlap of each (cluster, previous label) pair that shares an item: at most
  // one entry per item.
  const overlap = new Map<number, number>();
  const labels = labelOf.length;
  for (let i = 0; i < next.length; i++) {
    if (next[i]! < 0 || previous[i]! < 0) continue;
    const key = clusterIndex.get(next[i]!)! * labels + labelIndex.get(previous[i]!)!;
    overlap.set(key, (overlap.get(key) ?? 0) + (weights?.[i] ?? 1));
  }
  const clusters = clusterIndex.size;
  const assigned =
    Math.max(clusters, labels) <= MAX_EXACT_LABEL_MATCH
      ? exactAssignment(clusters, labels, overlap)
      : greedyAssignment(clusters, labels, overlap);

  // Matched clusters take their previous label; the rest the lowest free ones.
  const renamed = new Array<number>(clusters).fill(-1);
  const taken = new Set<number>(); // at most one entry per cluster
  for (let c = 0; c < clusters; c++) {
    const p = assigned[c]!;
    if (p >= 0 && (overlap.get(c * labels + p) ?? 0) > 0) {
      renamed[c] = labelOf[p]!;
      taken.add(labelOf[p]!);
    }
  }
  let free = 0;
  for (let c = 0; c < clusters; c++) {
    if (renamed[c]! >= 0) continue;
    while (taken.has(free)) free++;
    renamed[c] = free++;
  }
  return Array.from(next, (c) => (c < 0 ? c : renamed[clusterIndex.get(c)!]!));
}

/**
 * For each of `rows` rows, the column (or -1) of a one-to-one assignment that
 * maximizes the summed weight, weights given sparsely by row * cols + col
 * (missing = 0): the shared Hungarian algorithm on the dense matrix.
 */
function exactAssignment(
  rows: number,
  cols: number,
  weight: ReadonlyMap<number, number>,
): number[] {
  // Capacity: rows × cols, both at most MAX_EXACT_LABEL_MATCH here.
  const dense = Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
  for (const [key, w] of weight) {
    const r = Math.floor(key / cols);
    dense[r]![key - r * cols] = w;
  }
  return maxWeightAssignment(dense);
}

/** As {@link exactAssignment}, greedily: the heaviest pairs first. */
function greedyAssignment(
  rows: number,
  cols: number,
  weight: ReadonlyMap<number, number>,
): number[] {
  const pairs = [...weight].sort((x, y) => y[1] - x[1] || x[0] - y[0]);
  const colOfRow = new Array<number>(rows).fill(-1);
  const colUsed = new Uint8Array(cols);
  for (const [key] of pairs) {
    const r = Math.floor(key / cols);
    const c = key - r * cols;
    if (colOfRow[r] !== -1 || colUsed[c]) continue;
    colOfRow[r] = c;
    colUsed[c] = 1;
  }
  return colOfRow;
}

export interface MicroClustererOptions {
  /** Most items kept (and later clustered); at least 1. */
  capacity: number;
  /** Cosine similarity to an item's mean at which a point joins it once the cap is reached. */
  joinThreshold: number;
}

/**
 * Folds any number of embeddings into at most `capacity` items (micro-clusters:
 * the running mean of their members' unit embeddings, and a count), so that the
 * clustering that follows costs capacity² instead of n², and memory is
 * capacity × dims float64 plus one Int32 per point.
 *
 * While there are at most `capacity` points each is its own item, so clustering
 * the items is clustering the points, exactly. The point that would exceed the
 * cap folds the items together first (in order, each joins its nearest
 * folded item if within `joinThreshold`), then every later point joins its nearest item if
 * within the threshold, else opens a new one while there is room, else joins
 * its nearest item all the same (the cap is never exceeded). Every join
 * updates the item's mean, so an item's mean is always the mean of its
 * members: what {@link agglomerativeClusterWeighted} needs.
 */
export class MicroClusterer {
  readonly capacity: number;
  readonly joinThreshold: number;
  /**
   * Item k's sum of member unit vectors at [k * dims, (k + 1) * dims): one
   * block of capacity × dims float64, made at the first point (the scan for
   * the nearest item runs over it for every point).
   */
  private sums = new Float64Array(0);
  /** The point being added, as a unit vector (copied into an item when it opens one). */
  private unit = new Float64Array(0);
  /** Per item: its sum's squared length, its member count. Capacity items. */
  private sumNorms2: number[] = [];
  private counts: number[] = [];
  /** Item of each point, in order of adding; grows by doubling (4 bytes a point). */
  private itemOfPoint = new Int32Array(1024);
  private points = 0;
  private folded = false;
  private dims = -1;

  constructor(opts: MicroClustererOptions) {
    this.capacity = opts.capacity;
    this.joinThreshold = opts.joinThreshold;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${this.capacity}`);
    }
    if (!(this.joinThreshold >= -1 && this.joinThreshold <= 1)) {
      throw new RangeError(`joinThreshold must be in [-1, 1], got ${this.joinThreshold}`);
    }
  }

  get pointCount(): number {
    return this.points;
  }

  get itemCount(): number {
    return this.counts.length;
  }

  /** Whether each point is still its own item (no more points than the capacity). */
  get exact(): boolean {
    return !this.folded;
  }

  /** Adds the next point; returns its index (0, 1, ...). */
  add(embedding: ArrayLike<number>): number {
    if (this.dims === -1) {
      this.sums = new Float64Array(this.capacity * embedding.length);
      this.unit = new Float64Array(embedding.length);
      this.dims = embedding.length;
    } else if (embedding.length !== this.dims) {
      throw new RangeError(`embedding has ${embedding.length} dims, expected ${this.dims}`);
    }
    const unit = normalizeInto(embedding, this.unit);
    if (!this.folded && this.counts.length === this.capacity) this.foldItems();
    const item = this.folded ? this.nearestOrNew(unit) : this.open(unit);
    if (this.points === this.itemOfPoint.length) {
      const grown = new Int32Array(this.itemOfPoint.length * 2);
      grown.set(this.itemOfPoint);
      this.itemOfPoint = grown;
    }
    this.itemOfPoint[this.points] = item;
    return this.points++;
  }

  /** The item that point `point` belongs to. */
  itemOf(point: number): number {
    if (!(point >= 0 && point < this.points)) throw new RangeError(`no point ${point}`);
    return this.itemOfPoint[point]!;
  }

  /** Each item's mean unit vector (new arrays) and member count. */
  items(): { means: Float64Array[]; weights: number[] } {
    const dims = this.dims;
    return {
      means: this.counts.map((n, k) => this.sums.slice(k * dims, (k + 1) * dims).map((v) => v / n)),
      weights: this.counts.slice(),
    };
  }

  private open(unit: Float64Array): number {
    const k = this.counts.length;
    this.sums.set(unit, k * this.dims);
    this.sumNorms2.push(1);
    this.counts.push(1);
    return k;
  }

  private join(item: number, unit: Float64Array, dot: number): void {
    const sums = this.sums;
    const base = item * this.dims;
    for (let d = 0; d < unit.length; d++) sums[base + d] = sums[base + d]! + unit[d]!;
    this.sumNorms2[item] = this.sumNorms2[item]! + 2 * dot + 1;
    this.counts[item] = this.counts[item]! + 1;
  }

  /** The item most similar to `unit`: its index, cosine, and dot product with its sum. */
  private nearest(unit: Float64Array): { item: number; cosine: number; dot: number } {
    const sums = this.sums;
    const dims = this.dims;
    let item = -1;
    let cosine = -Infinity;
    let bestDot = 0;
    for (let k = 0, base = 0; k < this.counts.length; k++, base += dims) {
      let dot = 0;
      for (let d = 0; d < dims; d++) dot += sums[base + d]! * unit[d]!;
      const norm2 = this.sumNorms2[k]!;
      const c = norm2 > 0 ? dot / Math.sqrt(norm2) : 0;
      if (c > cosine) {
        cosine = c;
        item = k;
        bestDot = dot;
      }
    }
    return { item, cosine, dot: bestDot };
  }

  private nearestOrNew(unit: Float64Array): number {
    const best = this.nearest(unit);
    if (best.item >= 0 && best.cosine >= this.joinThreshold) {
      this.join(best.item, unit, best.dot);
      return best.item;
    }
    if (this.counts.length < this.capacity) return this.open(unit);
    this.join(best.item, unit, best.dot);
    return best.item;
  }

  /** The cap is reached: refolds the single-point items by the join rule, to make room. */
  private foldItems(): void {
    const dims = this.dims;
    const singles = this.sums;
    const n = this.counts.length;
    this.sums = new Float64Array(this.capacity * dims);
    this.sumNorms2 = [];
    this.counts = [];
    this.folded = true;
    const itemOfSingle = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const unit = singles.subarray(i * dims, (i + 1) * dims);
      const best = this.nearest(unit);
      if (best.item >= 0 && best.cosine >= this.joinThreshold) {
        this.join(best.item, unit, best.dot);
        itemOfSingle[i] = best.item;
      } else {
        itemOfSingle[i] = this.open(unit);
      }
    }
    // Until now point p was item p.
    for (let p = 0; p < this.points; p++) {
      this.itemOfPoint[p] = itemOfSingle[this.itemOfPoint[p]!]!;
    }
  }
}

/**
 * Clusters too small to be a speaker of their own join the nearest large one.
 * A voice that speaks for under a few seconds in a whole meeting is far more
 * often a cluster of short, noisy pieces (a cough, a laugh, the end of a
 * turn) than a person; average linkage leaves such pieces apart because
 * short windows embed poorly. `weights` is each item's amount of speech
 * (seconds), `means` each item's mean unit embedding; a cluster whose items
 * weigh less than `minWeight` in all has each of its items moved to the large
 * cluster whose weighted centroid is most similar to that item. When no
 * cluster reaches `minWeight`, the labels are returned unchanged. Labels are
 * renumbered by first appearance.
 */
export function absorbSmallClusters(
  labels: readonly number[],
  means: readonly ArrayLike<number>[],
  weights: readonly number[],
  minWeight: number,
): number[] {
  if (labels.length !== means.length || labels.length !== weights.length) {
    throw new RangeError('labels, means and weights must have one entry per item');
  }
  if (labels.length === 0) return [];
  const dims = means[0]!.length;
  // Capacity: one entry per cluster (at most one per item).
  const totals = new Map<number, number>();
  const sums = new Map<number, Float64Array>();
  labels.forEach((label, i) => {
    totals.set(label, (totals.get(label) ?? 0) + weights[i]!);
    let sum = sums.get(label);
    if (!sum) sums.set(label, (sum = new Float64Array(dims)));
    const m = means[i]!;
    for (let d = 0; d < dims; d++) sum[d] = sum[d]! + weights[i]! * m[d]!;
  });
  const large = [...totals].filter(([, total]) => total >= minWeight).map(([label]) => label);
  if (large.length === 0 || large.length === totals.size) return relabelByFirstAppearance(labels);
  return relabelByFirstAppearance(
    labels.map((label, i) => {
      if (totals.get(label)! >= minWeight) return label;
      let best = large[0]!;
      let bestSim = -Infinity;
      for (const candidate of large) {
        const sim = cosineSimilarity(means[i]!, sums.get(candidate)!);
        if (sim > bestSim) {
          bestSim = sim;
          best = candidate;
        }
      }
      return best;
    }),
  );
}
