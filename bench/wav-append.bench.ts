/**
 * wav-append: the recording writer's append cost must not depend on the file size,
 * its throughput must be close to plain sequential writes, and it must beat the
 * naive "reread and rewrite the whole file" approach by a wide margin.
 *
 * `npm run bench -- wav-append [--quick]`
 *
 * (1) append_ratio: median time of one awaited append of 0.2 s of 48 kHz mono s16
 *     (19200 bytes) to a 2 GB file / to a near-empty file. Measures append alone:
 *     the timer is set to its maximum and an explicit sync() runs after every 5
 *     appends (1 s of audio, as in real use) outside the timed region, so the page
 *     cache holds what it would while recording. The two files are measured in
 *     alternating blocks so machine noise hits both alike. Bound: <= 1.2.
 * (2) throughput_ratio: writer (create, awaited appends, close with its timer
 *     syncing every 1 s) / plain fs.write loop of the same chunks plus one
 *     fdatasync at the end; medians over alternating runs. Bound: >= 0.8.
 * (3) naive_speedup: one naive append at a 10-minute file (read the file, decode it
 *     with wavefile, add 0.2 s of samples, encode, write the whole file) / the
 *     writer's append at the same size. Reported, no bound.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as wavefileModule from 'wavefile';
import type { PcmFormat } from '../src/core/wav-format';
import { nodeFileSystem } from '../src/main/fs-layer';
import { WavAppendWriter } from '../src/main/recording/wav-writer';

const { WaveFile } = ((wavefileModule as unknown as { default?: typeof wavefileModule }).default ??
  wavefileModule) as typeof wavefileModule;

const FORMAT: PcmFormat = { sampleRate: 48000, channels: 1, bitsPerSample: 16 };
const CHUNK_BYTES = 19200; // 0.2 s
const BIG_BYTES = 2_000_000_000;

const log = (msg: string): void => void process.stderr.write(`[wav-append] ${msg}\n`);
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

function chunk(seed: number, bytes = CHUNK_BYTES): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 2) b.writeInt16LE(((i * 7 + seed * 131) % 20000) - 10000, i);
  return b;
}

/** Times `appends` awaited appends in blocks of 5, each block followed by an untimed sync. */
async function timeAppends(
  w: WavAppendWriter,
  data: Buffer,
  appends: number,
  out: number[],
): Promise<void> {
  for (let i = 0; i < appends; i++) {
    const t = now();
    await w.append(data);
    out.push(now() - t);
    if (i % 5 === 4) await w.sync();
  }
}

async function appendRatio(dir: string, quick: boolean) {
  const data = chunk(1);
  const small = await WavAppendWriter.create(path.join(dir, 'small.wav'), FORMAT, {
    syncIntervalMs: 2000,
  });
  const big = await WavAppendWriter.create(path.join(dir, 'big.wav'), FORMAT, {
    syncIntervalMs: 2000,
  });
  try {
    log(`building a ${BIG_BYTES / 1e9} GB file through the writer`);
    const fill = chunk(2, 8 * 1024 * 1024);
    const t0 = now();
    while (big.bytesWritten + fill.length <= BIG_BYTES) await big.append(fill);
    await big.sync();
    log(`built in ${((now() - t0) / 1000).toFixed(1)} s`);
    const smallTimes: number[] = [];
    const bigTimes: number[] = [];
    const blocks = quick ? 20 : 60;
    const perBlock = 50;
    // Warm-up, not counted.
    await timeAppends(small, data, 20, []);
    await timeAppends(big, data, 20, []);
    for (let b = 0; b < blocks; b++) {
      await timeAppends(small, data, perBlock, smallTimes);
      await timeAppends(big, data, perBlock, bigTimes);
    }
    const emptyMs = median(smallTimes);
    const bigMs = median(bigTimes);
    log(
      `append median: near-empty ${emptyMs.toFixed(4)} ms, 2 GB ${bigMs.toFixed(4)} ms (n=${bigTimes.length} each)`,
    );
    return {
      append_empty_median_ms: round(emptyMs, 4),
      append_2gb_median_ms: round(bigMs, 4),
      append_samples_each: bigTimes.length,
      append_ratio: round(bigMs / emptyMs),
      big_file_bytes: big.bytesWritten,
    };
  } finally {
    await small.close();
    await big.close();
    fs.rmSync(path.join(dir, 'small.wav'));
    fs.rmSync(path.join(dir, 'big.wav'));
  }
}

async function throughputRatio(dir: string, quick: boolean) {
  const data = chunk(3);
  const chunks = quick ? 5000 : 10000; // 96 MB / 192 MB
  const runs = quick ? 5 : 9;
  const writerMs: number[] = [];
  const plainMs: number[] = [];
  // Run -1 is a warm-up (JIT, page cache, disk allocation), not counted.
  for (let r = -1; r < runs; r++) {
    const wf = path.join(dir, `tw-${r}.wav`);
    let t = now();
    const w = await WavAppendWriter.create(wf, FORMAT);
    for (let i = 0; i < chunks; i++) await w.append(data);
    await w.close();
    const writerRun = now() - t;
    fs.rmSync(wf);

    const pf = path.join(dir, `tp-${r}.raw`);
    t = now();
    const fd = await nodeFileSystem.open(pf, 'wx');
    for (let i = 0; i < chunks; i++) await nodeFileSystem.write(fd, data, 0, data.length, null);
    await nodeFileSystem.fdatasync(fd);
    await nodeFileSystem.close(fd);
    const plainRun = now() - t;
    fs.rmSync(pf);
    log(
      `throughput run ${r + 1}/${runs}: writer ${writerRun.toFixed(0)} ms, plain ${plainRun.toFixed(0)} ms`,
    );
    if (r < 0) continue;
    writerMs.push(writerRun);
    plainMs.push(plainRun);
  }
  const mb = (chunks * CHUNK_BYTES) / 1e6;
  const writerMBs = mb / (median(writerMs) / 1000);
  const plainMBs = mb / (median(plainMs) / 1000);
  return {
    throughput_bytes_per_run: chunks * CHUNK_BYTES,
    writer_mb_s: round(writerMBs, 1),
    plain_mb_s: round(plainMBs, 1),
    throughput_ratio: round(writerMBs / plainMBs),
  };
}

async function naiveSpeedup(dir: string, quick: boolean) {
  const tenMinutes = FORMAT.sampleRate * 600; // samples
  const base = new Int16Array(tenMinutes);
  for (let i = 0; i < base.length; i++) base[i] = ((i * 13) % 20000) - 10000;
  const naivePath = path.join(dir, 'naive.wav');
  const wf0 = new WaveFile();
  wf0.fromScratch(1, FORMAT.sampleRate, '16', base);
  fs.writeFileSync(naivePath, wf0.toBuffer());
  const add = new Int16Array(CHUNK_BYTES / 2).fill(1234);
  const naiveMs: number[] = [];
  const reps = quick ? 1 : 3; // ~15 s each
  for (let r = 0; r < reps; r++) {
    const t = now();
    const wf = new WaveFile(fs.readFileSync(naivePath));
    const old = wf.getSamples(false, Int16Array) as unknown as Int16Array;
    const next = new Int16Array(old.length + add.length);
    next.set(old);
    next.set(add, old.length);
    const out = new WaveFile();
    out.fromScratch(1, FORMAT.sampleRate, '16', next);
    fs.writeFileSync(naivePath, out.toBuffer());
    naiveMs.push(now() - t);
    log(
      `naive append at ${(old.length / FORMAT.sampleRate / 60).toFixed(1)} min: ${naiveMs[r]!.toFixed(0)} ms`,
    );
  }
  fs.rmSync(naivePath);

  // The writer at the same size: a 10-minute file, then timed appends.
  const wPath = path.join(dir, 'ten-min.wav');
  const w = await WavAppendWriter.create(wPath, FORMAT, { syncIntervalMs: 2000 });
  const times: number[] = [];
  try {
    const data = chunk(4);
    const tenMinBytes = tenMinutes * 2;
    const fill = chunk(5, 960_000);
    while (w.bytesWritten + fill.length <= tenMinBytes) await w.append(fill);
    await w.sync();
    await timeAppends(w, data, 20, []);
    await timeAppends(w, data, 500, times);
  } finally {
    await w.close();
    fs.rmSync(wPath);
  }
  const naive = median(naiveMs);
  const writer = median(times);
  return {
    naive_append_10min_median_ms: round(naive, 1),
    writer_append_10min_median_ms: round(writer, 4),
    naive_speedup: Math.round(naive / writer),
  };
}

export default async function run(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-bench-wav-'));
  try {
    const a = await appendRatio(dir, quick);
    const t = await throughputRatio(dir, quick);
    const n = await naiveSpeedup(dir, quick);
    return {
      quick,
      chunk_bytes: CHUNK_BYTES,
      measures:
        'append alone (awaited, one at a time); sync() every 5 appends outside the timed region',
      ...a,
      ...t,
      ...n,
      bounds: { append_ratio_max: 1.2, throughput_ratio_min: 0.8 },
      pass: a.append_ratio <= 1.2 && t.throughput_ratio >= 0.8,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
