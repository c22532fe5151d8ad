/**
 * Speaker clustering of embeddings (WeSpeaker ResNet34: 256 floats per ~1.5 s of
 * speech) by cosine similarity: an online clusterer that labels speech while a
 * meeting runs, and an agglomerative one that re-clusters everything at stop.
 */

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
  /** Merging stops when no two clusters have average similarity >= threshold. */
  threshold: number;
  linkage?: 'average';
}

/**
 * Average-linkage agglomerative clustering on cosine similarity. Returns one label
 * per embedding, numbered by first appearance (embedding 0 is in cluster 0).
 *
 * Average linkage of unit vectors has a closed form: the mean similarity between
 * clusters A and B equals meanA · meanB, the dot product of their (unnormalized)
 * mean unit vectors. The core below works on weighted means, which is what makes
 * the large case possible: above {@link MAX_AGGLOMERATIVE_ITEMS} embeddings they
 * are clustered in consecutive blocks of that size first, and the resulting
 * clusters (as weighted means) are then clustered together, repeatedly while more
 * than the cap remain. Memory stays at cap² floats; the result is exact average
 * linkage except that merges inside a block happen before merges across blocks.
 * If a pass merges nothing, its clusters are final.
 */
export function agglomerativeCluster(
  embeddings: Float32Array[],
  opts: AgglomerativeOptions,
): number[] {
  const { threshold } = opts;
  if (opts.linkage !== undefined && opts.linkage !== 'average') {
    throw new RangeError(`unsupported linkage ${String(opts.linkage)}`);
  }
  const n = embeddings.length;
  if (n === 0) return [];
  const dims = embeddings[0]!.length;
  for (const e of embeddings) {
    if (e.length !== dims) throw new RangeError('embeddings have different lengths');
  }
  // Initially each embedding is its own item, of weight 1.
  return clusterWeightedMeans(embeddings.map(normalized), new Array<number>(n).fill(1), threshold);
}

/**
 * Average-linkage clustering of groups that are already merged: each item is
 * the mean of its group's unit embeddings (not normalized again: its length
 * carries how tight the group is) and its weight is the group's size. The
 * similarity of two items is then exactly the average similarity of their
 * members, so the result is the average linkage of all members under the
 * constraint that each group stays together. With every weight 1 and unit
 * means it is {@link agglomerativeCluster}. Returns one label per item,
 * numbered by first appearance.
 */
export function agglomerativeClusterWeighted(
  means: readonly ArrayLike<number>[],
  weights: readonly number[],
  opts: AgglomerativeOptions,
): number[] {
  if (opts.linkage !== undefined && opts.linkage !== 'average') {
    throw new RangeError(`unsupported linkage ${String(opts.linkage)}`);
  }
  if (means.length !== weights.length) {
    throw new RangeError(`${means.length} means but ${weights.length} weights`);
  }
  if (means.length === 0) return [];
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
    opts.threshold,
  );
}

/** The blockwise average linkage behind both entry points (see agglomerativeCluster). */
function clusterWeightedMeans(
  initialMeans: Float64Array[],
  initialWeights: number[],
  threshold: number,
): number[] {
  const n = initialMeans.length;
  const dims = initialMeans[0]!.length;
  // Items: the mean unit vector of a group, its weight, and which group each
  // input belongs to.
  let means: Float64Array[] = initialMeans;
  let weights: number[] = initialWeights;
  let itemOf: number[] = Array.from({ length: n }, (_, i) => i);

  for (;;) {
    const count = means.length;
    const labels: number[] = new Array<number>(count);
    let next = 0;
    for (let start = 0; start < count; start += MAX_AGGLOMERATIVE_ITEMS) {
      const end = Math.min(count, start + MAX_AGGLOMERATIVE_ITEMS);
      const block = averageLinkage(means.slice(start, end), weights.slice(start, end), threshold);
      let blockMax = -1;
      for (let i = 0; i < block.length; i++) {
        labels[start + i] = next + block[i]!;
        blockMax = Math.max(blockMax, block[i]!);
      }
      next += blockMax + 1;
    }
    itemOf = itemOf.map((item) => labels[item]!);
    // One block means the pass saw every pair: done. A pass that merged nothing
    // would repeat itself: done too. (The merged means are then not needed.)
    if (count <= MAX_AGGLOMERATIVE_ITEMS || next === count) break;
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
  return relabelByFirstAppearance(itemOf);
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
 * fall along the tree and cutting it at `threshold` gives exactly the clusters of
 * the greedy "merge the closest pair until it is below threshold" procedure.
 * Returns labels numbered by first appearance.
 */
function averageLinkage(means: Float64Array[], weights: number[], threshold: number): number[] {
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
  // Union-find over the merges at or above the threshold.
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const chain = new Int32Array(n);
  let chainLength = 0;
  let nextStart = 0;

  for (let remaining = n; remaining > 1;) {
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
    remaining--;
    const wa = size[a]!;
    const wb = size[b]!;
    active[b] = 0;
    size[a] = wa + wb;
    for (let k = 0; k < n; k++) {
      if (!active[k] || k === a) continue;
      const v = (wa * sim[a * n + k]! + wb * sim[b * n + k]!) / (wa + wb);
      sim[a * n + k] = v;
      sim[k * n + a] = v;
    }
    if (s >= threshold) parent[root(b)] = root(a);
  }
  return relabelByFirstAppearance(Array.from({ length: n }, (_, i) => root(i)));
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
