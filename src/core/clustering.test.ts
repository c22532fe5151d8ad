import { describe, expect, it } from 'vitest';
import {
  absorbSmallClusters,
  agglomerativeCluster,
  agglomerativeClusterWeighted,
  agglomerativeClusterWeightedWithMerges,
  agglomerativeClusterWithMerges,
  cosineSimilarity,
  MicroClusterer,
  DEFAULT_ONLINE_THRESHOLD,
  matchLabelsToPrevious,
  MAX_AGGLOMERATIVE_ITEMS,
  MAX_EXACT_LABEL_MATCH,
  OnlineSpeakerClusterer,
  relabelByFirstAppearance,
} from './clustering';
import { mulberry32 } from './prng';

const random = mulberry32;

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

function unitVector(rnd: () => number, dims: number): Float32Array {
  const v = Float32Array.from({ length: dims }, () => gaussian(rnd));
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/**
 * `perSpeaker` noisy embeddings around each of `speakers` random directions,
 * interleaved in a random order. Noise per dimension `sigma`; with dims = 256 and
 * sigma = 0.05 a point's cosine to its center is about 0.6, and to another
 * speaker's center about 0.
 */
function cloud(
  seed: number,
  speakers: number,
  perSpeaker: number,
  dims = 256,
  sigma = 0.05,
): { embeddings: Float32Array[]; truth: number[] } {
  const rnd = random(seed);
  const centers = Array.from({ length: speakers }, () => unitVector(rnd, dims));
  const items: { e: Float32Array; s: number }[] = [];
  for (let s = 0; s < speakers; s++) {
    for (let i = 0; i < perSpeaker; i++) {
      const e = centers[s]!.map((x) => x + sigma * gaussian(rnd));
      // Embeddings from a model are not unit length; scale them arbitrarily.
      const scale = 0.5 + 10 * rnd();
      items.push({ e: e.map((x) => x * scale), s });
    }
  }
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return {
    embeddings: items.map((x) => x.e),
    truth: relabelByFirstAppearance(items.map((x) => x.s)),
  };
}

/**
 * A slow, obviously correct average linkage: recompute all pair averages each
 * step. `groups` (default: each embedding alone) are the clusters it starts from.
 */
function naiveAverageLinkage(
  embeddings: Float32Array[],
  threshold: number,
  groups: number[][] = embeddings.map((_, i) => [i]),
): number[] {
  return naiveDendrogram(embeddings, groups, (best) => best >= threshold).labels;
}

/** Naive average linkage run down to `clusters` clusters, whatever the similarities. */
function naiveCutToClusters(
  embeddings: Float32Array[],
  clusters: number,
  groups: number[][] = embeddings.map((_, i) => [i]),
): number[] {
  return naiveDendrogram(embeddings, groups, (_, count) => count > clusters).labels;
}

/**
 * The naive procedure: merges the closest pair while `more(similarity, clusters
 * before the merge)`; returns the labels and the similarity of every merge made.
 */
function naiveDendrogram(
  embeddings: Float32Array[],
  groups: number[][],
  more: (best: number, count: number) => boolean,
): { labels: number[]; merges: number[] } {
  const merges: number[] = [];
  const clusters: number[][] = groups.map((g) => g.slice());
  const pairSim = (a: number, b: number) => cosineSimilarity(embeddings[a]!, embeddings[b]!);
  for (;;) {
    let best = -Infinity;
    let bi = -1;
    let bj = -1;
    for (let i = 0; i < clusters.length; i++) {
      for (let j = i + 1; j < clusters.length; j++) {
        let sum = 0;
        for (const a of clusters[i]!) for (const b of clusters[j]!) sum += pairSim(a, b);
        const avg = sum / (clusters[i]!.length * clusters[j]!.length);
        if (avg > best) {
          best = avg;
          bi = i;
          bj = j;
        }
      }
    }
    if (bi < 0 || !more(best, clusters.length)) break;
    merges.push(best);
    clusters[bi]!.push(...clusters[bj]!);
    clusters.splice(bj, 1);
  }
  const labels = new Array<number>(embeddings.length);
  clusters.forEach((members, c) => members.forEach((m) => (labels[m] = c)));
  return { labels: relabelByFirstAppearance(labels), merges };
}

describe('cosineSimilarity', () => {
  it('is 1 for parallel, 0 for orthogonal, -1 for opposite vectors', () => {
    expect(cosineSimilarity([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(cosineSimilarity([1, 0], [0, 5])).toBe(0);
    expect(cosineSimilarity([1, 1], [-3, -3])).toBeCloseTo(-1, 12);
    expect(cosineSimilarity([1, 0], [1, 1])).toBeCloseTo(Math.SQRT1_2, 12);
  });

  it('is 0 for a zero vector and rejects different lengths', () => {
    expect(cosineSimilarity([0, 0], [1, 1])).toBe(0);
    expect(() => cosineSimilarity([1], [1, 2])).toThrow(RangeError);
  });
});

describe('relabelByFirstAppearance', () => {
  it('numbers labels in order of first appearance and keeps negatives', () => {
    expect(relabelByFirstAppearance([5, 5, 2, 7, 2, -1, 5])).toEqual([0, 0, 1, 2, 1, -1, 0]);
    expect(relabelByFirstAppearance([])).toEqual([]);
  });
});

describe('OnlineSpeakerClusterer', () => {
  it('finds the 3 speakers of a clean cloud', () => {
    const { embeddings, truth } = cloud(1, 3, 40);
    const c = new OnlineSpeakerClusterer({ threshold: DEFAULT_ONLINE_THRESHOLD, maxSpeakers: 8 });
    const labels = embeddings.map((e) => c.assign(e));
    expect(labels).toEqual(truth);
    expect(c.speakerCount).toBe(3);
    expect(c.memberCounts).toEqual([40, 40, 40]);
  });

  it('joins at the threshold and splits below it', () => {
    const c = new OnlineSpeakerClusterer({ threshold: 0.5, maxSpeakers: 4 });
    expect(c.assign(Float32Array.from([1, 0]))).toBe(0);
    // cos 60° = 0.5: joins.
    expect(c.assign(Float32Array.from([0.5, Math.sqrt(3) / 2]))).toBe(0);
    // The centroid is now at 30°; a vector at 120° is at cos 90° = 0: new speaker.
    expect(c.assign(Float32Array.from([-0.5, Math.sqrt(3) / 2]))).toBe(1);
  });

  it('keeps centroids as running means of unit embeddings', () => {
    const c = new OnlineSpeakerClusterer({ threshold: 0, maxSpeakers: 2 });
    c.assign(Float32Array.from([10, 0]));
    c.assign(Float32Array.from([0, 0.1]));
    const [centroid] = c.centroids;
    expect([...centroid!]).toEqual([0.5, 0.5]);
  });

  it('when full, assigns to the nearest speaker without moving its centroid', () => {
    const c = new OnlineSpeakerClusterer({ threshold: 0.9, maxSpeakers: 2 });
    c.assign(Float32Array.from([1, 0, 0]));
    c.assign(Float32Array.from([0, 1, 0]));
    const before = c.centroids;
    expect(c.assign(Float32Array.from([0.1, 0.2, 1]))).toBe(1);
    expect(c.speakerCount).toBe(2);
    expect(c.centroids).toEqual(before);
    expect(c.memberCounts).toEqual([1, 1]);
  });

  it('rejects bad input and options', () => {
    const c = new OnlineSpeakerClusterer();
    c.assign(Float32Array.from([1, 2]));
    expect(() => c.assign(Float32Array.from([1, 2, 3]))).toThrow(RangeError);
    expect(() => c.assign(Float32Array.from([0, 0]))).toThrow(RangeError);
    expect(() => c.assign(Float32Array.from([NaN, 1]))).toThrow(RangeError);
    expect(() => new OnlineSpeakerClusterer({ threshold: 2 })).toThrow(RangeError);
    expect(() => new OnlineSpeakerClusterer({ maxSpeakers: 0 })).toThrow(RangeError);
    c.reset();
    expect(c.speakerCount).toBe(0);
    expect(c.assign(Float32Array.from([1, 2, 3]))).toBe(0);
  });
});

describe('agglomerativeCluster', () => {
  it('finds exactly 3 clusters in 3 well separated noisy clouds', () => {
    const { embeddings, truth } = cloud(2, 3, 50);
    const labels = agglomerativeCluster(embeddings, { threshold: 0.3 });
    expect(new Set(labels).size).toBe(3);
    expect(labels).toEqual(truth);
  });

  it('does not depend on the order of the embeddings', () => {
    const { embeddings } = cloud(3, 4, 25, 64, 0.15);
    const labels = agglomerativeCluster(embeddings, { threshold: 0.3 });
    const rnd = random(99);
    const order = embeddings.map((_, i) => i).sort(() => rnd() - 0.5);
    const shuffled = agglomerativeCluster(
      order.map((i) => embeddings[i]!),
      { threshold: 0.3 },
    );
    // Same partition: items together in one run are together in the other.
    const back = new Array<number>(embeddings.length);
    order.forEach((orig, pos) => (back[orig] = shuffled[pos]!));
    expect(relabelByFirstAppearance(back)).toEqual(labels);
  });

  it('agrees with the online clusterer on clean data', () => {
    const { embeddings } = cloud(4, 5, 30);
    const online = new OnlineSpeakerClusterer({ threshold: 0.5, maxSpeakers: 10 });
    const onlineLabels = embeddings.map((e) => online.assign(e));
    expect(agglomerativeCluster(embeddings, { threshold: 0.3 })).toEqual(onlineLabels);
  });

  it.each([0.9, 0.5, 0.2, 0.05, -0.2])(
    'matches a naive average linkage on overlapping clouds (threshold %f)',
    (threshold) => {
      // Heavy noise in few dimensions: clusters overlap and merge order matters.
      const { embeddings } = cloud(5, 4, 12, 8, 0.6);
      expect(agglomerativeCluster(embeddings, { threshold })).toEqual(
        naiveAverageLinkage(embeddings, threshold),
      );
    },
  );

  it('handles trivial inputs', () => {
    expect(agglomerativeCluster([], { threshold: 0.5 })).toEqual([]);
    expect(agglomerativeCluster([Float32Array.from([1, 2])], { threshold: 0.5 })).toEqual([0]);
    expect(() =>
      agglomerativeCluster([Float32Array.from([1]), Float32Array.from([1, 2])], { threshold: 0 }),
    ).toThrow(RangeError);
  });

  it(`clusters more than ${MAX_AGGLOMERATIVE_ITEMS} embeddings in blocks`, () => {
    const { embeddings, truth } = cloud(6, 3, 900, 32, 0.08);
    expect(embeddings.length).toBeGreaterThan(MAX_AGGLOMERATIVE_ITEMS);
    const t0 = performance.now();
    const labels = agglomerativeCluster(embeddings, { threshold: 0.3 });
    console.log(
      `agglomerative: ${embeddings.length} x 32 in ${(performance.now() - t0).toFixed(0)} ms`,
    );
    expect(labels).toEqual(truth);
  });
});

/** The mean of the unit vectors of `members`. */
function meanOfUnits(embeddings: Float32Array[], members: number[]): Float64Array {
  const out = new Float64Array(embeddings[0]!.length);
  for (const m of members) {
    const e = embeddings[m]!;
    const norm = Math.hypot(...e);
    for (let d = 0; d < out.length; d++) out[d] = out[d]! + e[d]! / norm / members.length;
  }
  return out;
}

describe('agglomerativeClusterWeighted', () => {
  it('with single members is agglomerativeCluster', () => {
    const { embeddings } = cloud(7, 4, 15, 16, 0.3);
    const units = embeddings.map((e) => meanOfUnits(embeddings, [embeddings.indexOf(e)]));
    expect(
      agglomerativeClusterWeighted(units, new Array<number>(units.length).fill(1), {
        threshold: 0.4,
      }),
    ).toEqual(agglomerativeCluster(embeddings, { threshold: 0.4 }));
  });

  it.each([0.6, 0.3, 0.1])(
    'over groups given as means and sizes is the average linkage of their members (threshold %f)',
    (threshold) => {
      const { embeddings } = cloud(8, 4, 12, 8, 0.6);
      // Groups of 1 to 4 consecutive embeddings, kept together.
      const rnd = random(1);
      const groups: number[][] = [];
      for (let i = 0; i < embeddings.length;) {
        const size = Math.min(embeddings.length - i, 1 + Math.floor(rnd() * 4));
        groups.push(Array.from({ length: size }, (_, k) => i + k));
        i += size;
      }
      const groupLabels = agglomerativeClusterWeighted(
        groups.map((g) => meanOfUnits(embeddings, g)),
        groups.map((g) => g.length),
        { threshold },
      );
      const perEmbedding = groups.flatMap((g, i) => g.map(() => groupLabels[i]!));
      expect(perEmbedding).toEqual(naiveAverageLinkage(embeddings, threshold, groups));
    },
  );

  it('rejects mismatched or bad weights', () => {
    const m = [Float64Array.from([1, 0])];
    expect(agglomerativeClusterWeighted([], [], { threshold: 0.5 })).toEqual([]);
    expect(() => agglomerativeClusterWeighted(m, [], { threshold: 0.5 })).toThrow(RangeError);
    expect(() => agglomerativeClusterWeighted(m, [0], { threshold: 0.5 })).toThrow(RangeError);
    expect(() =>
      agglomerativeClusterWeighted([m[0]!, Float64Array.from([1])], [1, 1], { threshold: 0.5 }),
    ).toThrow(RangeError);
  });
});

describe('agglomerative clustering to a given number of clusters', () => {
  it.each([1, 2, 4, 7])(
    'recovers %i well separated clouds exactly, whatever the threshold',
    (k) => {
      const { embeddings, truth } = cloud(20 + k, k, 30);
      // 0.99 alone would leave every embedding on its own.
      expect(agglomerativeCluster(embeddings, { threshold: 0.99, clusters: k })).toEqual(truth);
      expect(agglomerativeCluster(embeddings, { threshold: 0.99 })).toEqual(
        embeddings.map((_, i) => i),
      );
    },
  );

  it('with more clusters than items leaves every item alone', () => {
    const { embeddings } = cloud(30, 2, 3, 16, 0.1);
    const result = agglomerativeClusterWithMerges(embeddings, { threshold: -1, clusters: 10 });
    expect(result.labels).toEqual([0, 1, 2, 3, 4, 5]);
    expect(result.finalPassItems).toBe(6);
    expect(result.mergeSimilarities).toHaveLength(5);
  });

  it('with 1 cluster puts everything together, even opposite vectors', () => {
    const embeddings = [Float32Array.from([1, 0]), Float32Array.from([-1, 0])];
    expect(agglomerativeCluster(embeddings, { threshold: 0.5, clusters: 1 })).toEqual([0, 0]);
    const { embeddings: many } = cloud(31, 5, 10);
    expect(agglomerativeCluster(many, { threshold: 0.9, clusters: 1 })).toEqual(
      new Array<number>(50).fill(0),
    );
  });

  it.each([1, 2, 3, 5, 9, 20, 47])(
    'matches a naive average linkage run down to %i clusters on overlapping clouds',
    (k) => {
      const { embeddings } = cloud(5, 4, 12, 8, 0.6);
      const result = agglomerativeClusterWithMerges(embeddings, { threshold: 0.5, clusters: k });
      expect(result.labels).toEqual(naiveCutToClusters(embeddings, k));
      expect(new Set(result.labels).size).toBe(k);
    },
  );

  it('reports every merge level of the dendrogram, highest first, as the naive procedure makes them', () => {
    const { embeddings } = cloud(5, 4, 12, 8, 0.6);
    const { mergeSimilarities, finalPassItems } = agglomerativeClusterWithMerges(embeddings, {
      threshold: 0.5,
    });
    expect(finalPassItems).toBe(embeddings.length);
    const naive = naiveDendrogram(
      embeddings,
      embeddings.map((_, i) => [i]),
      () => true,
    ).merges;
    expect(mergeSimilarities).toHaveLength(naive.length);
    mergeSimilarities.forEach((s, m) => expect(s).toBeCloseTo(naive[m]!, 5));
    for (let m = 1; m < mergeSimilarities.length; m++) {
      expect(mergeSimilarities[m]).toBeLessThanOrEqual(mergeSimilarities[m - 1]!);
    }
  });

  it('cut to k clusters is the threshold cut between the levels that make k + 1 and k', () => {
    const { embeddings } = cloud(12, 4, 12, 8, 0.6);
    const n = embeddings.length;
    const levels = agglomerativeClusterWithMerges(embeddings, { threshold: 0 }).mergeSimilarities;
    for (let k = 1; k <= n; k++) {
      // k clusters: the first n - k merges applied, merge n - k not.
      const applied = k < n ? levels[n - k - 1]! : levels[0]! + 0.1;
      const notApplied = k > 1 ? levels[n - k]! : levels[n - 2]! - 0.1;
      expect(applied).toBeGreaterThan(notApplied);
      const threshold = (applied + notApplied) / 2;
      const byCount = agglomerativeCluster(embeddings, { threshold: 2, clusters: k });
      expect(new Set(byCount).size).toBe(k);
      expect(agglomerativeCluster(embeddings, { threshold })).toEqual(byCount);
    }
  });

  it.each([1, 4, 10])(
    'over weighted groups is the naive average linkage of their members down to %i clusters',
    (k) => {
      const { embeddings } = cloud(8, 4, 12, 8, 0.6);
      const rnd = random(2);
      const groups: number[][] = [];
      for (let i = 0; i < embeddings.length;) {
        const size = Math.min(embeddings.length - i, 1 + Math.floor(rnd() * 4));
        groups.push(Array.from({ length: size }, (_, g) => i + g));
        i += size;
      }
      const result = agglomerativeClusterWeightedWithMerges(
        groups.map((g) => meanOfUnits(embeddings, g)),
        groups.map((g) => g.length),
        { threshold: 0.5, clusters: k },
      );
      expect(result.finalPassItems).toBe(groups.length);
      expect(result.mergeSimilarities).toHaveLength(groups.length - 1);
      const perEmbedding = groups.flatMap((g, i) => g.map(() => result.labels[i]!));
      expect(perEmbedding).toEqual(naiveCutToClusters(embeddings, k, groups));
    },
  );

  it('in small blocks halves each block, then cuts the last single block to the count', () => {
    const { embeddings, truth } = cloud(11, 3, 40, 32, 0.08);
    const result = agglomerativeClusterWithMerges(embeddings, {
      threshold: 0.99,
      clusters: 3,
      blockSize: 16,
    });
    expect(result.labels).toEqual(truth);
    // 120 -> 60 -> 30 -> 15 items: the fourth pass is one block.
    expect(result.finalPassItems).toBe(15);
    expect(result.mergeSimilarities).toHaveLength(14);
    // A block as large as the input is the exact, one-pass clustering.
    const overlapping = cloud(5, 4, 12, 8, 0.6).embeddings;
    expect(
      agglomerativeCluster(overlapping, { threshold: 0.5, clusters: 5, blockSize: 48 }),
    ).toEqual(naiveCutToClusters(overlapping, 5));
    for (const k of [1, 3, 6]) {
      const blocked = agglomerativeCluster(overlapping, {
        threshold: 0.5,
        clusters: k,
        blockSize: 8,
      });
      expect(new Set(blocked).size).toBe(k);
    }
  });

  it('in small blocks by threshold, stops when a pass merges nothing', () => {
    const { embeddings, truth } = cloud(11, 3, 40, 32, 0.08);
    expect(agglomerativeCluster(embeddings, { threshold: 0.3, blockSize: 16 })).toEqual(truth);
    const stuck = agglomerativeClusterWithMerges(embeddings, { threshold: 0.99, blockSize: 16 });
    expect(stuck.labels).toEqual(embeddings.map((_, i) => i));
    expect(stuck.finalPassItems).toBe(0);
    expect(stuck.mergeSimilarities).toEqual([]);
  });

  it(`cuts more than ${MAX_AGGLOMERATIVE_ITEMS} embeddings to the count`, () => {
    const { embeddings, truth } = cloud(6, 3, 900, 32, 0.08);
    const result = agglomerativeClusterWithMerges(embeddings, { threshold: 0.99, clusters: 3 });
    expect(result.labels).toEqual(truth);
    // 2700 -> 1024 + 326 in the first pass, then one block.
    expect(result.finalPassItems).toBe(1350);
  });

  it('rejects a count or block size that is not a whole number in range', () => {
    const e = [Float32Array.from([1, 0])];
    for (const clusters of [0, -1, 1.5, NaN]) {
      expect(() => agglomerativeCluster(e, { threshold: 0.5, clusters })).toThrow(RangeError);
      expect(() => agglomerativeClusterWeighted(e, [1], { threshold: 0.5, clusters })).toThrow(
        RangeError,
      );
    }
    for (const blockSize of [1, 0, 2.5]) {
      expect(() => agglomerativeCluster(e, { threshold: 0.5, blockSize })).toThrow(RangeError);
    }
    expect(agglomerativeClusterWithMerges([], { threshold: 0.5, clusters: 2 })).toEqual({
      labels: [],
      finalPassItems: 0,
      mergeSimilarities: [],
    });
  });
});

/** Total weight of the items whose label is the same in both. */
function unchangedWeight(
  previous: readonly number[],
  result: readonly number[],
  weights?: readonly number[],
): number {
  let sum = 0;
  previous.forEach((p, i) => {
    if (p >= 0 && result[i] === p) sum += weights?.[i] ?? 1;
  });
  return sum;
}

/** The largest unchanged weight of any one-to-one renaming of next's clusters, by trying all. */
function bruteForceBestUnchanged(
  previous: readonly number[],
  next: readonly number[],
  weights?: readonly number[],
): number {
  const clusters = [...new Set(next.filter((c) => c >= 0))];
  const labels = [...new Set(previous.filter((p) => p >= 0))];
  const mapping = new Map<number, number>();
  let best = 0;
  const tryFrom = (k: number): void => {
    if (k === clusters.length) {
      const renamed = next.map((c) => mapping.get(c) ?? -2);
      best = Math.max(best, unchangedWeight(previous, renamed, weights));
      return;
    }
    tryFrom(k + 1); // cluster k matched to no previous label
    for (const p of labels) {
      if ([...mapping.values()].includes(p)) continue;
      mapping.set(clusters[k]!, p);
      tryFrom(k + 1);
      mapping.delete(clusters[k]!);
    }
  };
  tryFrom(0);
  return best;
}

/**
 * Checks that `result` is `next` renamed one-to-one (negatives kept), and that
 * clusters sharing nothing with their new label took the lowest labels no
 * matched cluster has, in order of first appearance.
 */
function expectRenamingOf(
  next: readonly number[],
  previous: readonly number[],
  result: readonly number[],
): void {
  expect(result).toHaveLength(next.length);
  const forward = new Map<number, number>();
  const backward = new Map<number, number>();
  next.forEach((c, i) => {
    const r = result[i]!;
    if (c < 0) {
      expect(r).toBe(c);
      return;
    }
    expect(r).toBeGreaterThanOrEqual(0);
    expect(forward.get(c) ?? r).toBe(r);
    expect(backward.get(r) ?? c).toBe(c);
    forward.set(c, r);
    backward.set(r, c);
  });
  const matched = new Set<number>();
  const unmatched: number[] = [];
  for (const r of forward.values()) {
    if (result.some((x, i) => x === r && previous[i] === r)) matched.add(r);
    else unmatched.push(r);
  }
  const lowestFree: number[] = [];
  for (let label = 0; lowestFree.length < unmatched.length; label++) {
    if (!matched.has(label)) lowestFree.push(label);
  }
  expect(unmatched).toEqual(lowestFree);
}

describe('matchLabelsToPrevious', () => {
  it('keeps labels that did not change', () => {
    expect(matchLabelsToPrevious([0, 1, 0, 2], [0, 1, 0, 2])).toEqual([0, 1, 0, 2]);
    expect(matchLabelsToPrevious([], [])).toEqual([]);
  });

  it('undoes a renaming of the same partition', () => {
    expect(matchLabelsToPrevious([0, 0, 1, 1, 2], [2, 2, 0, 0, 1])).toEqual([0, 0, 1, 1, 2]);
    expect(matchLabelsToPrevious([7, 7, 3], [0, 0, 1])).toEqual([7, 7, 3]);
  });

  it('gives the larger part of a split speaker the old label, the other part a new one', () => {
    // Speaker 0 (items 0-3) is two clusters now: items 0-2 and item 3.
    expect(matchLabelsToPrevious([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 2, 2])).toEqual([
      0, 0, 0, 2, 1, 1,
    ]);
  });

  it('gives two merged speakers the label of the larger one', () => {
    expect(matchLabelsToPrevious([0, 0, 0, 1, 2, 2], [5, 5, 5, 5, 4, 4])).toEqual([
      0, 0, 0, 0, 2, 2,
    ]);
    expect(matchLabelsToPrevious([1, 0, 0, 0, 2, 2], [5, 5, 5, 5, 4, 4])).toEqual([
      0, 0, 0, 0, 2, 2,
    ]);
  });

  it('numbers new speakers with the lowest labels no kept speaker has', () => {
    // Items 2-3 had no speaker before; labels 0 and 2 stay, so the new one is 1.
    expect(matchLabelsToPrevious([0, 0, -1, -1, 2], [0, 0, 1, 1, 2])).toEqual([0, 0, 1, 1, 2]);
    // Two new clusters, in order of first appearance: 0 and 2 (1 is kept).
    expect(matchLabelsToPrevious([1, 1, -1, -1, -1], [9, 9, 8, 7, 7])).toEqual([1, 1, 0, 2, 2]);
    // A cluster that shares an item with a previous label keeps that label.
    expect(matchLabelsToPrevious([1, 1, -1, -1, 3], [9, 9, 8, 7, 7])).toEqual([1, 1, 0, 3, 3]);
  });

  it('passes negative labels through', () => {
    expect(matchLabelsToPrevious([0, 1, 1], [-1, 0, -1])).toEqual([-1, 1, -1]);
    expect(matchLabelsToPrevious([-1, -1], [3, -2])).toEqual([0, -2]);
  });

  it('maximizes the unchanged weight when given weights', () => {
    expect(matchLabelsToPrevious([0, 0, 1], [0, 0, 0])).toEqual([0, 0, 0]);
    expect(matchLabelsToPrevious([0, 0, 1], [0, 0, 0], [1, 1, 5])).toEqual([1, 1, 1]);
  });

  it('is optimal on small random cases, against trying every renaming', () => {
    const rnd = random(40);
    for (let trial = 0; trial < 400; trial++) {
      const n = 1 + Math.floor(rnd() * 12);
      const nextLabels = 1 + Math.floor(rnd() * 5);
      const previousLabels = 1 + Math.floor(rnd() * 5);
      const next = Array.from({ length: n }, () => Math.floor(rnd() * (nextLabels + 1)) - 1);
      const previous = Array.from(
        { length: n },
        () => Math.floor(rnd() * (previousLabels + 1)) - 1,
      );
      const weights = trial % 2 ? Array.from({ length: n }, () => rnd() * 3) : undefined;
      const result = matchLabelsToPrevious(previous, next, weights);
      expectRenamingOf(next, previous, result);
      expect(unchangedWeight(previous, result, weights)).toBeCloseTo(
        bruteForceBestUnchanged(previous, next, weights),
        9,
      );
    }
  });

  it(`above ${MAX_EXACT_LABEL_MATCH} clusters still renames one-to-one, greedily`, () => {
    const clusters = 200;
    expect(clusters).toBeGreaterThan(MAX_EXACT_LABEL_MATCH);
    const rnd = random(41);
    const permutation = Array.from({ length: clusters }, (_, i) => i).sort(() => rnd() - 0.5);
    const previous = Array.from({ length: 3 * clusters }, (_, i) => i % clusters);
    const next = previous.map((p) => permutation[p]!);
    expect(matchLabelsToPrevious(previous, next)).toEqual(previous);
    // A split and new speakers in the same large case.
    const split = next.slice();
    split[0] = clusters; // one item of speaker 0 is a cluster of its own
    split[1] = -1;
    const previousWithNew = previous.slice();
    previousWithNew[2] = -1;
    const result = matchLabelsToPrevious(previousWithNew, split);
    expectRenamingOf(split, previousWithNew, result);
    expect(unchangedWeight(previousWithNew, result)).toBe(3 * clusters - 3);
  });

  it('rejects arrays of different lengths and labels that are not whole numbers', () => {
    expect(() => matchLabelsToPrevious([0], [0, 1])).toThrow(RangeError);
    expect(() => matchLabelsToPrevious([0], [0], [1, 2])).toThrow(RangeError);
    expect(() => matchLabelsToPrevious([0.5], [0])).toThrow(RangeError);
    expect(() => matchLabelsToPrevious([0], [0], [-1])).toThrow(RangeError);
  });
});

describe('MicroClusterer', () => {
  it('up to its capacity keeps each point as its own item, exactly', () => {
    const { embeddings } = cloud(9, 3, 10, 16);
    const folding = new MicroClusterer({ capacity: 30, joinThreshold: 0.8 });
    embeddings.forEach((e, i) => expect(folding.add(e)).toBe(i));
    expect(folding.exact).toBe(true);
    expect(folding.itemCount).toBe(30);
    const { means, weights } = folding.items();
    expect(weights).toEqual(new Array<number>(30).fill(1));
    embeddings.forEach((e, i) => {
      expect(folding.itemOf(i)).toBe(i);
      const unit = meanOfUnits(embeddings, [i]);
      for (let d = 0; d < unit.length; d++) expect(means[i]![d]).toBeCloseTo(unit[d]!, 12);
    });
  });

  it('past its capacity never holds more items, each the mean of its members', () => {
    const { embeddings, truth } = cloud(10, 4, 200, 32, 0.08);
    const folding = new MicroClusterer({ capacity: 25, joinThreshold: 0.8 });
    for (const e of embeddings) {
      folding.add(e);
      expect(folding.itemCount).toBeLessThanOrEqual(25);
    }
    expect(folding.exact).toBe(false);
    const { means, weights } = folding.items();
    const members: number[][] = means.map(() => []);
    embeddings.forEach((_, i) => members[folding.itemOf(i)]!.push(i));
    expect(members.map((m) => m.length)).toEqual(weights);
    members.forEach((m, k) => {
      const expected = meanOfUnits(embeddings, m);
      for (let d = 0; d < expected.length; d++) expect(means[k]![d]).toBeCloseTo(expected[d]!, 9);
      // Tight items: one voice each.
      expect(new Set(m.map((i) => truth[i])).size).toBe(1);
    });
    // Clustering the items gives the voices back.
    const labels = agglomerativeClusterWeighted(means, weights, { threshold: 0.3 });
    expect(relabelByFirstAppearance(embeddings.map((_, i) => labels[folding.itemOf(i)]!))).toEqual(
      truth,
    );
  });

  it('rejects bad options and embeddings of another length', () => {
    expect(() => new MicroClusterer({ capacity: 0, joinThreshold: 0.8 })).toThrow(RangeError);
    expect(() => new MicroClusterer({ capacity: 2, joinThreshold: 1.5 })).toThrow(RangeError);
    const folding = new MicroClusterer({ capacity: 2, joinThreshold: 0.8 });
    folding.add(Float32Array.from([1, 0]));
    expect(() => folding.add(Float32Array.from([1, 0, 0]))).toThrow(RangeError);
    expect(() => folding.add(Float32Array.from([0, 0]))).toThrow(RangeError);
    expect(() => folding.itemOf(1)).toThrow(RangeError);
  });
});

describe('absorbSmallClusters', () => {
  const e = (...v: number[]) => Float32Array.from(v);
  it('moves each item of a small cluster to the most similar large one', () => {
    const means = [e(1, 0, 0), e(0, 1, 0), e(0.9, 0.1, 0.3), e(0.1, 0.9, 0.3), e(1, 0, 0.1)];
    const labels = [0, 1, 2, 3, 0];
    const weights = [5, 6, 0.5, 0.7, 4];
    expect(absorbSmallClusters(labels, means, weights, 2)).toEqual([0, 1, 0, 1, 0]);
  });

  it('leaves the labels when every cluster is large, or none is', () => {
    const means = [e(1, 0), e(0, 1), e(1, 0.1)];
    expect(absorbSmallClusters([0, 1, 0], means, [3, 3, 3], 2)).toEqual([0, 1, 0]);
    expect(absorbSmallClusters([0, 1, 2], means, [1, 1, 1], 2)).toEqual([0, 1, 2]);
  });

  it('counts a cluster by the total of its items, not by their number', () => {
    const means = [e(1, 0), e(0, 1), e(0, 1), e(0, 1)];
    // Three short items of one voice make 2.1 s together: a speaker.
    expect(absorbSmallClusters([0, 1, 1, 1], means, [5, 0.7, 0.7, 0.7], 2)).toEqual([0, 1, 1, 1]);
  });
});
