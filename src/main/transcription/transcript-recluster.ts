import {
  absorbSmallClusters,
  agglomerativeClusterWeighted,
  matchLabelsToPrevious,
  MicroClusterer,
} from '../../core/clustering';
import { LIMITS } from '../../core/api/types';
import {
  centroidCosinesOf,
  DEFAULT_OVERLAP,
  fitTwoVoices,
  isOverlapped,
  type OverlapConfig,
} from '../../core/overlap';
import { EmbeddingDecoder, indexTranscriptLog } from './transcript-store';

/**
 * Most items the re-clustering at stop clusters: average linkage over them
 * holds a MAX² float32 matrix (1 MiB at 512) whatever the meeting's length.
 * A meeting with at most this many segments is clustered segment by segment,
 * exactly; a longer one is first folded into this many micro-clusters.
 */
export const MAX_RECLUSTER_ITEMS = 512;

/**
 * Cosine to a micro-cluster's mean at which a segment joins it once the cap
 * is reached: tight, so a micro-cluster holds one voice and only the
 * agglomerative pass decides what is the same speaker.
 */
export const MICRO_CLUSTER_JOIN_THRESHOLD = 0.8;

/**
 * Least speech a speaker found at stop may have, seconds; a smaller cluster
 * joins the nearest larger one (see absorbSmallClusters). Not applied when the
 * person gave the number of speakers. Chosen on the development meeting.
 */
export const MIN_SPEAKER_S = 4;

export interface SpeakerChange {
  /** The segment's id (its first 16 kHz sample). */
  segment: number;
  speaker: number;
  /** Whether two voices overlap in it (see src/core/overlap.ts). */
  overlap: boolean;
}

/** Label and overlap-mark changes, at most LIMITS.segmentsPerPage of them. */
export interface RelabelPage {
  changes: SpeakerChange[];
}

export interface TranscriptSummary {
  segmentCount: number;
  /** Distinct speakers in the final transcript. */
  speakerCount: number;
}

export interface ReclusterOptions {
  /** Average-linkage merge threshold: it decides how many speakers there are. */
  threshold: number;
  /** The number of speakers, when the person gave it: the dendrogram is cut there instead. */
  speakers?: number;
  /** Default MIN_SPEAKER_S. */
  minSpeakerS?: number;
  /**
   * Persists the changes and the ids of every segment with overlapped speech
   * (one labels record); a rejection means nothing was changed.
   */
  appendLabels: (
    changes: Iterable<readonly [id: number, speaker: number]>,
    overlap: Iterable<number>,
  ) => Promise<void>;
  /** Gets the persisted changes in pages, in reading order; not called when there are none. */
  onChanges: (page: RelabelPage) => void;
  /** Default MAX_RECLUSTER_ITEMS; smaller in tests of the folding. */
  maxItems?: number;
  /** Default MICRO_CLUSTER_JOIN_THRESHOLD. */
  joinThreshold?: number;
  /** Default LIMITS.segmentsPerPage. */
  changesPerPage?: number;
  /** Default DEFAULT_OVERLAP. */
  overlap?: OverlapConfig;
}

/**
 * Re-clusters the speakers of the transcript in `folder` and relabels it, in
 * memory bounded by the item cap, not by the meeting: one pass over the log
 * folds each segment's mean embedding into at most `maxItems` items and keeps
 * per segment only its id, speaker and item (16 bytes); average linkage
 * clusters the items (weighted by their sizes), cut at the threshold or at
 * the number of speakers given; each cluster takes the live label it shares
 * most segments with (an optimal matching), new ones the lowest free labels;
 * a second pass over the log marks the segments with a window that is a mix
 * of two speakers' centroids as overlapped (src/core/overlap.ts); the
 * changed labels and marks are appended as one record, then handed out in
 * pages. Segments without embeddings keep their speaker and are not marked.
 *
 * With no more segments than `maxItems` every segment is its own item and
 * the result is that of average linkage over all segments.
 */
export async function reclusterTranscript(
  folder: string,
  opts: ReclusterOptions,
): Promise<TranscriptSummary> {
  const folding = new MicroClusterer({
    capacity: opts.maxItems ?? MAX_RECLUSTER_ITEMS,
    joinThreshold: opts.joinThreshold ?? MICRO_CLUSTER_JOIN_THRESHOLD,
  });
  /** Point (in MicroClusterer) of each segment by log position, -1 without embedding. */
  let pointOf = new Int32Array(1024);
  /** Each segment's length by log position, seconds (grows with pointOf). */
  let secondsOf = new Float32Array(1024);
  // One segment's windows and mean at a time, in reused buffers.
  const decoder = new EmbeddingDecoder();
  let mean = new Float32Array(0);
  const { index, endByte } = await indexTranscriptLog(folder, (line, position) => {
    if (position === pointOf.length) {
      const grown = new Int32Array(pointOf.length * 2);
      grown.set(pointOf);
      pointOf = grown;
      const grownSeconds = new Float32Array(secondsOf.length * 2);
      grownSeconds.set(secondsOf);
      secondsOf = grownSeconds;
    }
    pointOf[position] = -1;
    secondsOf[position] = Math.max(0, line.endS - line.startS);
    const windows = line.emb;
    if (windows.length === 0) return;
    const first = decoder.decode(windows[0]!);
    if (mean.length !== first.length) mean = new Float32Array(first.length);
    const hasMean = meanInto(mean, windows.length, (i) =>
      i === 0 ? first : decoder.decode(windows[i]!),
    );
    if (hasMean) pointOf[position] = folding.add(mean);
  });
  const count = index.count;
  const order = index.idOrder();
  const newSpeakerOf = new Int32Array(count);
  for (let p = 0; p < count; p++) newSpeakerOf[p] = index.speakerAt(p);
  /** 1 where a segment holds overlapped speech, by log position. */
  const overlapped = new Uint8Array(count);

  if (folding.pointCount > 0) {
    // Items in order of their first segment in reading order: then average
    // linkage numbers clusters by first appearance in the transcript, and over
    // unfolded items its input is exactly that of clustering every segment.
    const { means, weights } = folding.items();
    const rankOf = new Int32Array(means.length).fill(-1);
    const byRank: number[] = [];
    for (const position of order) {
      const point = pointOf[position]!;
      if (point < 0) continue;
      const item = folding.itemOf(point);
      if (rankOf[item]! < 0) {
        rankOf[item] = byRank.length;
        byRank.push(item);
      }
    }
    const rankedMeans = byRank.map((item) => means[item]!);
    let labels = agglomerativeClusterWeighted(
      rankedMeans,
      byRank.map((item) => weights[item]!),
      {
        threshold: opts.threshold,
        ...(opts.speakers !== undefined ? { clusters: opts.speakers } : {}),
      },
    );
    if (opts.speakers === undefined) {
      // Speech per item (one number per item), for the smallest speaker a cluster may be.
      const itemSeconds = new Float64Array(means.length);
      for (let p = 0; p < count; p++) {
        const point = pointOf[p]!;
        if (point >= 0) itemSeconds[folding.itemOf(point)]! += secondsOf[p]!;
      }
      labels = absorbSmallClusters(
        labels,
        rankedMeans,
        byRank.map((item) => itemSeconds[item]!),
        opts.minSpeakerS ?? MIN_SPEAKER_S,
      );
    }
    // The clusters take the live labels they share most segments with, so a
    // label a person saw changes only where the re-clustering moved the
    // segment (4 bytes a segment with an embedding, twice).
    const embedded = Array.from(order).filter((position) => pointOf[position]! >= 0);
    const renamed = matchLabelsToPrevious(
      embedded.map((position) => index.speakerAt(position)),
      embedded.map((position) => labels[rankOf[folding.itemOf(pointOf[position]!)]!]!),
    );
    embedded.forEach((position, i) => (newSpeakerOf[position] = renamed[i]!));

    // Each final speaker's centroid: the weighted sum of its items' means.
    const centroidOf = new Map<number, Float32Array>(); // one entry per speaker found
    const summed = new Uint8Array(means.length);
    embedded.forEach((position) => {
      const item = folding.itemOf(pointOf[position]!);
      if (summed[item]) return;
      summed[item] = 1;
      const speaker = newSpeakerOf[position]!;
      const mean = means[item]!;
      let sum = centroidOf.get(speaker);
      if (!sum) centroidOf.set(speaker, (sum = new Float32Array(mean.length)));
      const w = weights[item]!;
      for (let i = 0; i < mean.length; i++) sum[i] = sum[i]! + w * mean[i]!;
    });
    if (centroidOf.size >= 2) {
      await markOverlapped(folder, endByte, centroidOf, pointOf, newSpeakerOf, overlapped, {
        ...DEFAULT_OVERLAP,
        ...opts.overlap,
      });
    }
  }

  // Changed and relabelled segments by log position, in reading order (at most
  // one entry of each a segment).
  const changed: number[] = [];
  const relabelled: number[] = [];
  const speakers = new Set<number>(); // at most one entry per segment
  for (const position of order) {
    speakers.add(newSpeakerOf[position]!);
    const speakerMoved = newSpeakerOf[position] !== index.speakerAt(position);
    if (speakerMoved) relabelled.push(position);
    if (speakerMoved || (overlapped[position] === 1) !== index.overlapAt(position)) {
      changed.push(position);
    }
  }
  if (changed.length > 0) {
    await opts.appendLabels(
      (function* () {
        for (const p of relabelled) yield [index.idAt(p), newSpeakerOf[p]!] as const;
      })(),
      (function* () {
        for (const p of order) if (overlapped[p] === 1) yield index.idAt(p);
      })(),
    );
    const perPage = opts.changesPerPage ?? LIMITS.segmentsPerPage;
    for (let start = 0; start < changed.length; start += perPage) {
      opts.onChanges({
        changes: changed.slice(start, start + perPage).map((p) => ({
          segment: index.idAt(p),
          speaker: newSpeakerOf[p]!,
          overlap: overlapped[p] === 1,
        })),
      });
    }
  }
  return { segmentCount: count, speakerCount: speakers.size };
}

/**
 * Second pass over the log (up to the first pass's end): a segment is
 * overlapped when one of its windows is a clear mix of two speakers'
 * centroids. Only the speakers' centroids and one decoded window are held.
 */
async function markOverlapped(
  folder: string,
  endByte: number,
  centroidOf: ReadonlyMap<number, Float32Array>,
  pointOf: Int32Array,
  speakerOf: Int32Array,
  overlapped: Uint8Array,
  config: OverlapConfig,
): Promise<void> {
  const speakers = [...centroidOf.keys()];
  const centroids = speakers.map((s) => normalized(centroidOf.get(s)!));
  const cosines = centroidCosinesOf(centroids);
  const decoder = new EmbeddingDecoder();
  await indexTranscriptLog(
    folder,
    (line, position) => {
      if (pointOf[position]! < 0) return;
      for (const window of line.emb) {
        const embedding = decoder.decode(window);
        if (embedding.length !== centroids[0]!.length) return;
        const fit = fitTwoVoices(embedding, centroids, cosines);
        // One of the two voices must be the segment's own speaker: a mix of
        // two others is a window the clustering got wrong, not an overlap.
        const own = speakerOf[position];
        if (
          isOverlapped(fit, config) &&
          (speakers[fit.dominant] === own || speakers[fit.second] === own)
        ) {
          overlapped[position] = 1;
          return;
        }
      }
    },
    endByte,
  );
}

function normalized(v: Float32Array): Float32Array {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
  norm = Math.sqrt(norm);
  return norm > 0 ? v.map((x) => x / norm) : v;
}

/** The L2-normalised mean of an utterance's window embeddings, or null when it has none. */
export function meanEmbedding(embeddings: Float32Array[]): Float32Array | null {
  const first = embeddings[0];
  if (!first) return null;
  const out = new Float32Array(first.length);
  return meanInto(out, embeddings.length, (i) => embeddings[i]!) ? out : null;
}

/**
 * Writes the normalised float32 sum of `count` windows (each read once, in
 * order: `windowAt` may reuse one buffer) into `out`, which has the first
 * window's length. False when the sum is zero or not finite.
 */
function meanInto(
  out: Float32Array,
  count: number,
  windowAt: (i: number) => Float32Array,
): boolean {
  out.fill(0);
  for (let w = 0; w < count; w++) {
    const e = windowAt(w);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + e[i]!;
  }
  let norm = 0;
  for (let i = 0; i < out.length; i++) norm += out[i]! * out[i]!;
  norm = Math.sqrt(norm);
  if (!(norm > 0)) return false;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  return true;
}
