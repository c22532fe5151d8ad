import {
  absorbSmallClusters,
  agglomerativeClusterWeighted,
  matchLabelsToPrevious,
  MicroClusterer,
} from '../../core/clustering';
import { LIMITS } from '../../core/api/types';
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
}

/** Label changes, at most LIMITS.segmentsPerPage of them. */
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
  /** Persists the changes (one labels record); a rejection means nothing was changed. */
  appendLabels: (changes: Iterable<readonly [id: number, speaker: number]>) => Promise<void>;
  /** Gets the persisted changes in pages, in reading order; not called when there are none. */
  onChanges: (page: RelabelPage) => void;
  /** Default MAX_RECLUSTER_ITEMS; smaller in tests of the folding. */
  maxItems?: number;
  /** Default MICRO_CLUSTER_JOIN_THRESHOLD. */
  joinThreshold?: number;
  /** Default LIMITS.segmentsPerPage. */
  changesPerPage?: number;
}

/**
 * Re-clusters the speakers of the transcript in `folder` and relabels it, in
 * memory bounded by the item cap, not by the meeting: one pass over the log
 * folds each segment's mean embedding into at most `maxItems` items and keeps
 * per segment only its id, speaker and item (16 bytes); average linkage
 * clusters the items (weighted by their sizes), cut at the threshold or at
 * the number of speakers given; each cluster takes the live label it shares
 * most segments with (an optimal matching), new ones the lowest free labels;
 * the changed labels are appended as one record, then handed out in pages.
 * Segments without embeddings keep their speaker.
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
  const { index } = await indexTranscriptLog(folder, (line, position) => {
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
  }

  // Changed segments by log position, in reading order (4 bytes a segment at most).
  const changed: number[] = [];
  const speakers = new Set<number>(); // at most one entry per segment
  for (const position of order) {
    speakers.add(newSpeakerOf[position]!);
    if (newSpeakerOf[position] !== index.speakerAt(position)) changed.push(position);
  }
  if (changed.length > 0) {
    await opts.appendLabels(
      (function* () {
        for (const p of changed) yield [index.idAt(p), newSpeakerOf[p]!] as const;
      })(),
    );
    const perPage = opts.changesPerPage ?? LIMITS.segmentsPerPage;
    for (let start = 0; start < changed.length; start += perPage) {
      opts.onChanges({
        changes: changed.slice(start, start + perPage).map((p) => ({
          segment: index.idAt(p),
          speaker: newSpeakerOf[p]!,
        })),
      });
    }
  }
  return { segmentCount: count, speakerCount: speakers.size };
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
