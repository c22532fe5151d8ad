import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnlineSpeakerClusterer } from '../core/clustering';
import { mulberry32 } from '../core/prng';
import {
  segmentLine,
  serializeLogLine,
  TRANSCRIPT_FILE,
  type SegmentRecord,
} from '../main/transcription/transcript-store';
import { meanEmbedding } from '../main/transcription/transcript-recluster';

export interface LongTranscriptOptions {
  /** Default 14,400: 12 hours of ~3 s utterances. */
  segments?: number;
  speakers?: number;
  dims?: number;
  /** Noise per dimension of a window embedding around its speaker's direction. */
  sigma?: number;
  /** Threshold of the online clusterer whose labels the log carries (as a live run writes them). */
  onlineThreshold?: number;
  seed?: number;
}

export interface LongTranscriptTruth {
  segmentCount: number;
  /** Seconds from the first segment's start to the last one's end. */
  spanS: number;
  bytes: number;
  /** The true speaker of each segment in reading order, one digit each. */
  speakers: string;
  /** Speakers the online clusterer made (the labels the log carries). */
  onlineSpeakers: number;
  /** The label the log carries for each segment in reading order, one base-36 digit each. */
  onlineLabels: string;
}

const WORDS = (
  'so we should look at the numbers for the next quarter and then decide who takes the ' +
  'release plan I think that is fine but the customer asked about the timeline again ' +
  'right okay let me share my screen can you see it yes that works for me thanks'
).split(' ');

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

function unit(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/**
 * Writes a long meeting's transcript log into `folder` as a live run would
 * have left it, through the log's own serializer: utterances of 1.5-4 s with
 * gaps of up to 0.5 s (about 3 s each), text at about 2.5 words a second,
 * one window embedding per 1.5 s of speech (1-3), speakers taking turns of a
 * few utterances, each voice noisy around its own direction (the directions
 * share a common part, as real voices do: cosine about 0.15 between
 * speakers), labelled by the online clusterer. Memory: one 1 MiB write
 * buffer and the truth string; the log goes to disk as it is made.
 */
export function writeLongTranscriptLog(
  folder: string,
  opts: LongTranscriptOptions = {},
): LongTranscriptTruth {
  const count = opts.segments ?? 14_400;
  const speakers = opts.speakers ?? 4;
  const dims = opts.dims ?? 256;
  const sigma = opts.sigma ?? 0.05;
  const rnd = mulberry32(opts.seed ?? 12);
  const common = unit(Float32Array.from({ length: dims }, () => gaussian(rnd)));
  const voices = Array.from({ length: speakers }, () =>
    unit(Float32Array.from({ length: dims }, (_, d) => 0.4 * common[d]! + gaussian(rnd) / 16)),
  );
  const online = new OnlineSpeakerClusterer({ threshold: opts.onlineThreshold ?? 0.5 });
  const truth: number[] = [];
  const labels: string[] = [];
  const fd = fs.openSync(path.join(folder, TRANSCRIPT_FILE), 'w');
  let buffered: string[] = [];
  let bufferedChars = 0;
  let bytes = 0;
  const flush = () => {
    const chunk = Buffer.from(buffered.join(''));
    fs.writeSync(fd, chunk);
    bytes += chunk.byteLength;
    buffered = [];
    bufferedChars = 0;
  };
  let t = 1;
  let speaker = 0;
  let turnLeft = 0;
  let lastSpeaker = 0;
  try {
    for (let i = 0; i < count; i++) {
      if (turnLeft === 0) {
        // A new turn: someone else speaks, for 1 to ~10 utterances.
        if (i > 0) speaker = (speaker + 1 + Math.floor(rnd() * (speakers - 1))) % speakers;
        turnLeft = 1 + Math.floor(-Math.log(1 - rnd()) * 3);
      }
      turnLeft--;
      const duration = 1.5 + 2.5 * rnd();
      const wordCount = Math.max(1, Math.round(duration * (1.5 + 2 * rnd())));
      const text =
        ' ' +
        Array.from({ length: wordCount }, () => WORDS[Math.floor(rnd() * WORDS.length)]!).join(
          ' ',
        ) +
        '.';
      const windows = Math.min(3, Math.max(1, Math.round(duration / 1.5)));
      const embeddings = Array.from({ length: windows }, () => {
        const scale = 0.5 + 10 * rnd(); // model embeddings are not unit length
        return voices[speaker]!.map((x) => (x + sigma * gaussian(rnd)) * scale);
      });
      const mean = meanEmbedding(embeddings);
      const label = mean ? online.assign(mean) : lastSpeaker;
      lastSpeaker = label;
      const startSample = Math.round(t * 16_000);
      const endSample = Math.round((t + duration) * 16_000);
      const record: SegmentRecord = {
        id: startSample,
        startS: startSample / 16_000,
        endS: endSample / 16_000,
        text,
        speaker: label,
        embeddings,
      };
      const line = serializeLogLine(segmentLine(record));
      buffered.push(line);
      bufferedChars += line.length;
      if (bufferedChars >= 1 << 20) flush();
      truth.push(speaker);
      labels.push(label.toString(36));
      t += duration + 0.5 * rnd();
    }
    flush();
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return {
    segmentCount: count,
    spanS: t - 1,
    bytes,
    speakers: truth.join(''),
    onlineSpeakers: online.speakerCount,
    onlineLabels: labels.join(''),
  };
}

/**
 * writeLongTranscriptLog in a child process: the test process then measures
 * its own memory without the generator's garbage in its heap.
 */
export function writeLongTranscriptLogInChild(
  folder: string,
  opts: LongTranscriptOptions = {},
): Promise<LongTranscriptTruth> {
  const script = fileURLToPath(new URL('./long-transcript-cli.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', script, folder, JSON.stringify(opts)],
      { maxBuffer: 1 << 20, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`generating the transcript failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as LongTranscriptTruth);
      },
    );
  });
}
