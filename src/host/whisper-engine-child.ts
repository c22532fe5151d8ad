/**
 * Harness for WhisperEngine in tests and benchmarks.
 *
 * As a script it is the child process that loads a model with WhisperEngine,
 * transcribes and prints one JSON line, so that a native crash takes down only
 * the child, never the test runner:
 *
 *   node --import tsx src/host/whisper-engine-child.ts --model FILE --audio FILE.wav|FILE.f32
 *       [--threads 2] [--max-tokens 0] [--language en] [--no-context] [--offset-ms 0] [--runs 1]
 *
 * Last stdout line: { ok: true, info, load_s, runs: [{ wall_s, segments }] } or
 * { ok: false, error: { code, message, action } }. whisper.cpp logs to stderr.
 *
 * As a module it gives the parent side: running that child, running
 * whisper.cpp's own CLI (native/build-whisper-cli.mjs) with the matching
 * flags, and the audio both read (16-bit 16 kHz mono WAV, converted to float
 * exactly as whisper.cpp's read_wav does: sample / 32768).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  endOfTextToken,
  transcribedSegment,
  type NativeToken,
  type TranscribedSegment,
} from './whisper-engine';
import type { WhisperModelInfo } from './whisper-model-file';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
export const ENGINE_CHILD_SCRIPT = fileURLToPath(import.meta.url);
export const SAMPLE_RATE = 16000;

/* ----------------------------- audio files ------------------------------ */

/** A 16-bit PCM mono WAV at 16 kHz: what whisper.cpp's CLI reads. */
export function writeWav16(file: string, samples: Int16Array): void {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + samples.byteLength, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(SAMPLE_RATE, 24);
  header.writeUInt32LE(SAMPLE_RATE * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(samples.byteLength, 40);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    tmp,
    Buffer.concat([header, Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)]),
  );
  fs.renameSync(tmp, file);
}

/** Samples of a 16-bit PCM mono 16 kHz WAV as float, the way whisper.cpp's read_wav converts them. */
export function readWav16AsFloat(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE')
    throw new Error(`${file} is not a WAV file`);
  let off = 12;
  let fmtOk = false;
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmtOk =
        buf.readUInt16LE(body) === 1 &&
        buf.readUInt16LE(body + 2) === 1 &&
        buf.readUInt32LE(body + 4) === SAMPLE_RATE &&
        buf.readUInt16LE(body + 14) === 16;
    } else if (id === 'data') {
      if (!fmtOk) throw new Error(`${file} is not 16-bit PCM mono at 16 kHz`);
      const n = Math.floor(Math.min(size, buf.length - body) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(body + 2 * i) / 32768;
      return out;
    }
    off = body + size + (size & 1);
  }
  throw new Error(`${file} has no data chunk`);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
}

const SENTENCES = [
  'Good morning everyone, let us start the weekly meeting with a short review of last week.',
  'The recorder now writes audio to disk as it arrives, and the transcript appears while people speak.',
  'Next we will look at memory use on long meetings and decide what to ship on Friday.',
  'Maria asked whether the export to text files keeps the speaker names, and it does.',
  'The model host is a separate process, so a crash there never stops a recording.',
  'We measured the disk usage of a two hour meeting and it stayed under one gigabyte.',
  'Please send your notes before Thursday so that the release notes can be written in time.',
  'Finally, thank you all for the careful testing of the new microphone settings.',
];

/**
 * `seconds` of espeak-ng speech (several sentences, repeated as needed) as a
 * 16 kHz 16-bit mono WAV, cut or padded with silence to exactly that length.
 * Cached under .cache/audio.
 */
export function speechWav(seconds: number, voice = 'en-us+f3'): string {
  const out = path.join(repoRoot, '.cache/audio', `speech-${voice}-${seconds}s-16k.wav`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // espeak-ng speaks about 2.5 words a second: enough sentences for `seconds`, then cut.
  const words = Math.ceil(seconds * 3.5);
  const parts: string[] = [];
  for (let i = 0, n = 0; n < words; i++) {
    const s = SENTENCES[i % SENTENCES.length]!;
    parts.push(s);
    n += s.split(' ').length;
  }
  const raw = `${out}.espeak-${process.pid}.wav`;
  const conv = `${out}.sox-${process.pid}.wav`;
  try {
    run('espeak-ng', ['-v', voice, '-w', raw, parts.join(' ')]);
    run('sox', [
      raw,
      '-r',
      '16000',
      '-c',
      '1',
      '-b',
      '16',
      '-e',
      'signed-integer',
      conv,
      'trim',
      '0',
      String(seconds),
    ]);
    const samples = readWav16AsFloat(conv);
    const exact = new Int16Array(seconds * SAMPLE_RATE);
    for (let i = 0; i < Math.min(exact.length, samples.length); i++)
      exact[i] = Math.round(samples[i]! * 32768);
    writeWav16(out, exact);
  } finally {
    fs.rmSync(raw, { force: true });
    fs.rmSync(conv, { force: true });
  }
  return out;
}

/** Deterministic clips other than speech: digital silence, or white noise at about -20 dBFS. */
export function syntheticWav(kind: 'silence' | 'noise', seconds: number): string {
  const out = path.join(repoRoot, '.cache/audio', `${kind}-${seconds}s-16k.wav`);
  if (fs.existsSync(out)) return out;
  const samples = new Int16Array(seconds * SAMPLE_RATE);
  if (kind === 'noise') {
    let a = 0x9e3779b9;
    for (let i = 0; i < samples.length; i++) {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      samples[i] = Math.round(
        (((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5) * 2 * 3277 * Math.sqrt(3) * 0.999,
      );
    }
  }
  writeWav16(out, samples);
  return out;
}

/* ------------------------- driving the children ------------------------- */

export interface EngineChildOptions {
  model: string;
  audio: string;
  threads?: number;
  maxTokens?: number;
  language?: string;
  noContext?: boolean;
  offsetMs?: number;
  runs?: number;
  /** e.g. ['--concurrent', '3', '--dispose-early'] */
  extraArgs?: string[];
}

export type SettledTranscription =
  { ok: true; segments: TranscribedSegment[] } | { ok: false; code?: string; message: string };

export interface EngineChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  json:
    | {
        ok: true;
        info: WhisperModelInfo;
        load_s: number;
        /** Sequential runs (the default). */
        runs?: { wall_s: number; segments: TranscribedSegment[] }[];
        /** With --concurrent / --dispose-early: each call's outcome, in call order. */
        settled?: SettledTranscription[];
      }
    | { ok: false; error: { code?: string; message: string; action?: string } }
    | null;
  stderrTail: string;
}

/** Runs WhisperEngine in a child process; resolves with how it ended, whatever that was. */
export function runEngineChild(o: EngineChildOptions): Promise<EngineChildResult> {
  const args = ['--import', 'tsx', ENGINE_CHILD_SCRIPT, '--model', o.model, '--audio', o.audio];
  args.push('--threads', String(o.threads ?? 2), '--runs', String(o.runs ?? 1));
  if (o.maxTokens !== undefined) args.push('--max-tokens', String(o.maxTokens));
  if (o.language !== undefined) args.push('--language', o.language);
  if (o.offsetMs !== undefined) args.push('--offset-ms', String(o.offsetMs));
  if (o.noContext) args.push('--no-context');
  if (o.extraArgs) args.push(...o.extraArgs);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: repoRoot,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000); // a tail is all that is shown
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      let json: EngineChildResult['json'] = null;
      try {
        json = JSON.parse(stdout.trim().split('\n').pop() ?? '') as EngineChildResult['json'];
      } catch {
        json = null;
      }
      resolve({ code, signal, json, stderrTail: stderr.split('\n').slice(-25).join('\n') });
    });
  });
}

export interface CliOptions {
  cli: string;
  model: string;
  /** 16-bit 16 kHz mono WAV. */
  wav: string;
  threads: number;
  language: string;
  /** 0 = whisper.cpp's limit; passed through the build's STENO_MAX_TOKENS shim (main.cpp has no flag). */
  maxTokens: number;
  noContext?: boolean;
}

export interface CliResult {
  segments: TranscribedSegment[];
  /** whisper_print_timings: model load, and total since the load started (so total - load = the rest). */
  loadMs: number;
  totalMs: number;
  /** The process, start to exit. */
  wallMs: number;
  args: string[];
}

/**
 * The whisper.cpp CLI flags that match WhisperEngine's whisperParams(): greedy
 * with one decoder (-bs 1 -bo 1; the CLI's default is beam search 5), no
 * temperature fallback (-nf), temperature 0, same threads and language, no GPU,
 * -mc 0 for noContext; segments written as full JSON (-ojf), which also turns
 * on token timestamps as WhisperEngine does and lists every token with them.
 */
export function cliArgs(o: CliOptions, outPrefix: string): string[] {
  return [
    '-m',
    o.model,
    '-f',
    o.wav,
    '-t',
    String(o.threads),
    '-l',
    o.language,
    '-bs',
    '1',
    '-bo',
    '1',
    '-nf',
    '-tp',
    '0',
    '-ng',
    ...(o.noContext ? ['-mc', '0'] : []),
    '-ojf',
    '-of',
    outPrefix,
  ];
}

export function runWhisperCli(o: CliOptions): Promise<CliResult> {
  const prefix = path.join(path.dirname(o.wav), `cli-out-${process.pid}-${Date.now()}`);
  const args = cliArgs(o, prefix);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const env = { ...process.env, STENO_MAX_TOKENS: String(o.maxTokens) };
    const child = spawn(o.cli, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallMs = performance.now() - started;
      const json = `${prefix}.json`;
      try {
        if (code !== 0)
          throw new Error(
            `whisper.cpp CLI exited with ${code ?? signal}:\n${stderr.split('\n').slice(-15).join('\n')}`,
          );
        const ms = (label: string) => {
          const m = new RegExp(`${label} time =\\s*([0-9.]+) ms`).exec(stderr);
          if (!m) throw new Error(`whisper.cpp CLI printed no "${label} time"`);
          return Number(m[1]);
        };
        resolve({
          segments: parseCliJson(fs.readFileSync(json)),
          loadMs: ms('load'),
          totalMs: ms('total'),
          wallMs,
          args,
        });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      } finally {
        fs.rmSync(json, { force: true });
      }
    });
  });
}

/** What main.cpp's output_json writes with -ojf, as far as it is read here. */
interface CliJson {
  model: { multilingual: boolean };
  transcription: {
    offsets: { from: number; to: number };
    text: string;
    tokens: (Omit<NativeToken, 'from' | 'to'> & { offsets?: { from: number; to: number } })[];
  }[];
}

/**
 * Parses main.cpp's output_json (-ojf) into segments, their tokens made by the
 * same code as WhisperEngine's (transcribedSegment), so the two compare whole.
 * Its strings are raw bytes with only quotes and backslashes escaped (a random
 * model can emit partial UTF-8 and control bytes). The file is decoded as V8
 * decodes the addon's strings, replacing invalid sequences with U+FFFD; that
 * is the same as decoding each string alone, since a replaced sequence never
 * takes in an ASCII byte such as the closing quote. Control characters inside
 * strings are then escaped so that JSON.parse accepts them.
 */
export function parseCliJson(bytes: Buffer): TranscribedSegment[] {
  const json = new TextDecoder('utf-8').decode(bytes);
  let escaped = '';
  let copiedTo = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString && c === 0x5c) i++;
    else if (c === 0x22) inString = !inString;
    else if (inString && c < 0x20) {
      escaped += `${json.slice(copiedTo, i)}\\u${c.toString(16).padStart(4, '0')}`;
      copiedTo = i + 1;
    }
  }
  const parsed = JSON.parse(escaped + json.slice(copiedTo)) as CliJson;
  const eot = endOfTextToken(parsed.model);
  return parsed.transcription.map((s) =>
    transcribedSegment(
      {
        from: s.offsets.from,
        to: s.offsets.to,
        text: s.text,
        tokens: s.tokens.map(({ text, id, p, offsets }) => ({
          text,
          id,
          p,
          ...(offsets ? { from: offsets.from, to: offsets.to } : {}),
        })),
      },
      eot,
      0,
    ),
  );
}

/* ------------------------------ the child ------------------------------- */

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      audio: { type: 'string' },
      threads: { type: 'string', default: '2' },
      'max-tokens': { type: 'string' },
      language: { type: 'string' },
      'offset-ms': { type: 'string' },
      'no-context': { type: 'boolean', default: false },
      runs: { type: 'string', default: '1' },
      concurrent: { type: 'string', default: '1' },
      'dispose-early': { type: 'boolean', default: false },
    },
  });
  if (!values.model || !values.audio) throw new Error('--model and --audio are required');
  const samples = values.audio.endsWith('.wav')
    ? readWav16AsFloat(values.audio)
    : new Float32Array(new Uint8Array(fs.readFileSync(values.audio)).buffer);
  // Imported here, not at the top: the parent side of this module must not load the addon.
  const { WhisperEngine } = await import('./whisper-engine');
  let t = performance.now();
  const engine = await WhisperEngine.load(values.model, { threads: Number(values.threads) });
  const loadS = (performance.now() - t) / 1000;
  const options = {
    ...(values.language !== undefined ? { language: values.language } : {}),
    ...(values['max-tokens'] !== undefined ? { maxTokens: Number(values['max-tokens']) } : {}),
    ...(values['offset-ms'] !== undefined ? { offsetMs: Number(values['offset-ms']) } : {}),
    noContext: values['no-context'],
  };
  const runs: { wall_s: number; segments: TranscribedSegment[] }[] = [];
  // --concurrent N: N calls at once (they must queue, not overlap); --dispose-early: dispose
  // right after starting them (the running one must finish, the waiting ones be refused).
  const concurrent = Number(values.concurrent);
  if (concurrent > 1 || values['dispose-early']) {
    const started = performance.now();
    const calls = Array.from({ length: concurrent }, () => engine.transcribe(samples, options));
    const disposed = values['dispose-early'] ? engine.dispose() : Promise.resolve();
    const outcomes = await Promise.allSettled(calls);
    await disposed;
    await engine.dispose();
    const settled = outcomes.map((o) =>
      o.status === 'fulfilled'
        ? { ok: true, segments: o.value }
        : {
            ok: false,
            code: (o.reason as { code?: string }).code,
            message: String((o.reason as Error).message),
          },
    );
    console.log(
      JSON.stringify({
        ok: true,
        info: engine.info,
        load_s: loadS,
        wall_s: (performance.now() - started) / 1000,
        settled,
      }),
    );
    return;
  }
  try {
    for (let i = 0; i < Number(values.runs); i++) {
      t = performance.now();
      const segments = await engine.transcribe(samples, options);
      runs.push({ wall_s: (performance.now() - t) / 1000, segments });
    }
  } finally {
    await engine.dispose();
  }
  console.log(JSON.stringify({ ok: true, info: engine.info, load_s: loadS, runs }));
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  main().catch((e: unknown) => {
    const err = e as { code?: string; message?: string; action?: string };
    console.log(
      JSON.stringify({
        ok: false,
        error: { code: err?.code, message: String(err?.message ?? e), action: err?.action },
      }),
    );
    process.exitCode = 1;
  });
}
