/**
 * `npm run bench -- parity [--quick]`: Steno's WhisperEngine against
 * whisper.cpp's own CLI (examples/main, built by native/build-whisper-cli.mjs
 * from the same bundled sources with the same flags as the addon).
 *
 * Same model (generated tiny.en shape, f16, random weights), same audio (60 s
 * of espeak-ng speech as a 16-bit 16 kHz WAV: the CLI reads it, Steno gets the
 * same samples converted the same way), same decoding (greedy, one decoder, no
 * temperature fallback, timestamps on, language en, 2 threads, max_tokens 32
 * per window).
 *
 * Timing: the transcription only, without process start and model load, for
 * both. Steno: wall time of `engine.transcribe()` inside the child (it includes
 * creating the whisper_state, the mel spectrogram, whisper_full and turning the
 * segments into JS objects). CLI: whisper_print_timings' "total" minus "load"
 * (it includes creating the state, reading the WAV, whisper_full and writing
 * the full JSON: -ojf, which also computes token timestamps as Steno does). Both therefore count the same native work plus each side's own
 * overhead; process start (Node + tsx is ~0.5 s, a native binary ~0) and model
 * load are reported separately. Runs alternate between the two (and swap
 * order every round) so load from other processes on the shared machine falls
 * on both; each round gives one ratio (Steno / CLI, its two runs back to back)
 * and the gate reads the median of 5 rounds' ratios (`--quick`: 3 rounds,
 * 20 s of speech). `pass` also needs every run of both sides to give the same
 * segments, times and text.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureWhisperModel } from '../src/testing/ggml-whisper-model';
import {
  cliArgs,
  runEngineChild,
  runWhisperCli,
  speechWav,
  type CliResult,
} from '../src/host/whisper-engine-child';
import type { TranscribedSegment } from '../src/host/whisper-engine';
import { interleavedRatio, median, round } from './support';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const THREADS = 2;
const MAX_TOKENS = 32;
const MAX_WALL_RATIO = 1.1;

function log(msg: string): void {
  process.stderr.write(`[parity] ${msg}\n`);
}

const textOf = (segments: TranscribedSegment[]) => segments.map((s) => s.text).join('');

interface StenoRun {
  transcribeMs: number;
  loadMs: number;
  processMs: number;
  segments: TranscribedSegment[];
}

async function runSteno(model: string, wav: string): Promise<StenoRun> {
  const started = performance.now();
  const r = await runEngineChild({ model, audio: wav, threads: THREADS, maxTokens: MAX_TOKENS });
  const processMs = performance.now() - started;
  if (!r.json?.ok || !r.json.runs?.[0])
    throw new Error(
      `Steno child failed (${r.code ?? r.signal}): ${JSON.stringify(r.json)}\n${r.stderrTail}`,
    );
  const run = r.json.runs[0];
  return {
    transcribeMs: run.wall_s * 1000,
    loadMs: r.json.load_s * 1000,
    processMs,
    segments: run.segments,
  };
}

export default async function parity(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  // --rounds N: more rounds when the machine is busy (the median settles).
  const roundsAt = args.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Math.max(1, Number(args[roundsAt + 1])) : quick ? 3 : 5;
  const seconds = quick ? 20 : 60;

  log('whisper.cpp CLI (node native/build-whisper-cli.mjs)');
  const build = spawnSync(process.execPath, [path.join(repoRoot, 'native/build-whisper-cli.mjs')], {
    stdio: ['ignore', process.stderr, process.stderr],
  });
  if (build.status !== 0) throw new Error('building the whisper.cpp CLI failed (see above)');
  const cli = path.join(repoRoot, '.cache/whisper-cli/whisper-cli');

  const model = await ensureWhisperModel('tiny');
  const wav = speechWav(seconds);
  const cliOpts = { cli, model, wav, threads: THREADS, language: 'en', maxTokens: MAX_TOKENS };
  const loadBefore = os.loadavg()[0]!;
  // Capacity: one run per round on each side.
  const steno: StenoRun[] = [];
  const whisperCli: CliResult[] = [];
  // Every round counts (no warm-up round): the first runs' segments are compared too.
  const interleaved = await interleavedRatio(
    rounds,
    async () => {
      const r = await runSteno(model, wav);
      steno.push(r);
      log(
        `round ${steno.length}/${rounds} steno: ${(r.transcribeMs / 1000).toFixed(2)} s transcribe, ${(r.loadMs / 1000).toFixed(2)} s load, ${(r.processMs / 1000).toFixed(2)} s process, ${r.segments.length} segments`,
      );
      return r.transcribeMs;
    },
    async () => {
      const r = await runWhisperCli(cliOpts);
      whisperCli.push(r);
      log(
        `round ${whisperCli.length}/${rounds} cli:   ${((r.totalMs - r.loadMs) / 1000).toFixed(2)} s transcribe, ${(r.loadMs / 1000).toFixed(2)} s load, ${(r.wallMs / 1000).toFixed(2)} s process, ${r.segments.length} segments`,
      );
      return r.totalMs - r.loadMs;
    },
    { warmup: 0 },
  );
  const roundRatios = interleaved.rounds.map((r) => r.ratio);

  const reference = whisperCli[0]!.segments;
  const identicalText = [...steno, ...whisperCli].every(
    (r) => textOf(r.segments) === textOf(reference),
  );
  // Compared field by field: the two sides build their objects with keys in different orders.
  const canonical = (segments: TranscribedSegment[]) =>
    JSON.stringify(segments.map((s) => [s.startMs, s.endMs, s.text]));
  const identicalSegments = [...steno, ...whisperCli].every(
    (r) => canonical(r.segments) === canonical(reference),
  );
  const stenoMs = median(steno.map((r) => r.transcribeMs));
  const cliMs = median(whisperCli.map((r) => r.totalMs - r.loadMs));
  // A burst of load hits both runs of a round alike, so it moves a round's
  // ratio less than either side's median; the median of rounds ignores the
  // few rounds a burst did split.
  const wallRatio = interleaved.medianRatio;
  return {
    quick,
    audio_s: seconds,
    rounds,
    threads: THREADS,
    max_tokens: MAX_TOKENS,
    model: 'generated tiny.en shape, f16, random weights',
    identical_text: identicalText,
    identical_segments: identicalSegments,
    segments: reference.length,
    text_chars: textOf(reference).length,
    steno_transcribe_s: round(stenoMs / 1000),
    cli_transcribe_s: round(cliMs / 1000),
    wall_ratio: round(wallRatio),
    round_ratios: roundRatios.map((r) => round(r)),
    wall_ratio_spread: [round(Math.min(...roundRatios)), round(Math.max(...roundRatios))],
    wall_ratio_of_medians: round(stenoMs / cliMs),
    steno_first: interleaved.rounds.map((r) => r.aFirst),
    // Fastest against fastest: the runs least disturbed by other processes on a shared machine.
    wall_ratio_min: round(
      Math.min(...steno.map((r) => r.transcribeMs)) /
        Math.min(...whisperCli.map((r) => r.totalMs - r.loadMs)),
    ),
    max_wall_ratio: MAX_WALL_RATIO,
    steno_runs_s: steno.map((r) => round(r.transcribeMs / 1000)),
    cli_runs_s: whisperCli.map((r) => round((r.totalMs - r.loadMs) / 1000)),
    steno_load_s: round(median(steno.map((r) => r.loadMs)) / 1000),
    cli_load_s: round(median(whisperCli.map((r) => r.loadMs)) / 1000),
    steno_process_s: round(median(steno.map((r) => r.processMs)) / 1000),
    cli_process_s: round(median(whisperCli.map((r) => r.wallMs)) / 1000),
    cli_command: `STENO_MAX_TOKENS=${MAX_TOKENS} .cache/whisper-cli/whisper-cli ${cliArgs(
      cliOpts,
      '<out>',
    )
      .map((a) => (a.startsWith(repoRoot) ? path.relative(repoRoot, a) : a))
      .join(' ')}`,
    loadavg_1m: [round(loadBefore, 2), round(os.loadavg()[0]!, 2)],
    pass: identicalText && identicalSegments && wallRatio <= MAX_WALL_RATIO,
  };
}
