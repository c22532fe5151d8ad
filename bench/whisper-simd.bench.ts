/**
 * `npm run bench -- whisper-simd [--quick]`: how much the SIMD build of
 * smart-whisper (native/build-whisper.mjs) gains over its default build.
 *
 * The same audio (espeak-ng speech, 16 kHz float mono), the same tiny.en-shaped
 * generated model, 2 threads, greedy, one decoding pass capped at MAX_TOKENS,
 * run in child processes that load either the default build
 * (.cache/whisper-default, built if missing) or the SIMD build in node_modules.
 * Runs alternate between the builds so load from other processes on the machine
 * spreads over both. Model load time is reported separately.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureWhisperModel } from '../src/testing/ggml-whisper-model';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = path.join(repoRoot, '.cache');
const buildScript = path.join(repoRoot, 'native/build-whisper.mjs');
const childScript = path.join(repoRoot, 'src/testing/whisper-child.ts');
const defaultBuildDir = path.join(cacheDir, 'whisper-default');
const THREADS = 2;
const MAX_TOKENS = 16;
const SPEECH =
  'Good morning everyone. Let us start the weekly meeting with a short review of last week. ' +
  'The recorder now writes audio to disk as it arrives, and the transcript appears while people speak. ' +
  'Next we will look at memory use on long meetings and decide what to ship on Friday.';

function log(msg: string): void {
  process.stderr.write(`[whisper-simd] ${msg}\n`);
}

function run(cmd: string, args: string[]): void {
  // Build output is progress: send it to stderr, keep stdout for the JSON line.
  const r = spawnSync(cmd, args, { stdio: ['ignore', process.stderr, process.stderr] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

/** espeak-ng speech converted by sox to raw float32 16 kHz mono, cut or padded to exactly `seconds`. */
function speechAudio(seconds: number): string {
  const out = path.join(cacheDir, 'bench', `speech-${seconds}s.f32`);
  if (fs.existsSync(out) && fs.statSync(out).size === seconds * 16000 * 4) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const wav = `${out}.wav`;
  run('espeak-ng', ['-v', 'en-us+f3', '-w', wav, SPEECH]);
  const raw = `${out}.raw`;
  run('sox', [
    wav,
    '-t',
    'raw',
    '-r',
    '16000',
    '-c',
    '1',
    '-e',
    'floating-point',
    '-b',
    '32',
    raw,
    'trim',
    '0',
    String(seconds),
  ]);
  // Speech shorter than `seconds` is padded with silence.
  const exact = Buffer.alloc(seconds * 16000 * 4);
  fs.readFileSync(raw).copy(exact);
  fs.writeFileSync(`${out}.tmp`, exact);
  fs.rmSync(wav);
  fs.rmSync(raw);
  fs.renameSync(`${out}.tmp`, out);
  return out;
}

/** The stamp build-whisper.mjs writes next to the SIMD build; null when node_modules holds the default build. */
function simdStamp(): { flags: string[] } | null {
  const file = path.join(repoRoot, 'node_modules/smart-whisper/build/steno-simd.json');
  return fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { flags: string[] })
    : null;
}

interface ChildRun {
  load_s: number;
  runs: { wall_s: number; n_tokens: number }[];
}

function transcribeInChild(addon: string, model: string, audio: string): Promise<ChildRun> {
  const args = [
    '--import',
    'tsx',
    childScript,
    '--addon',
    addon,
    '--model',
    model,
    '--audio',
    audio,
  ];
  args.push('--runs', '1', '--threads', String(THREADS), '--max-tokens', String(MAX_TOKENS));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      const json = (() => {
        try {
          return JSON.parse(last) as ChildRun & { ok: boolean; error?: string };
        } catch {
          return null;
        }
      })();
      if (code === 0 && json?.ok) resolve(json);
      else
        reject(new Error(`child with ${addon} failed (${code ?? signal}): ${json?.error ?? last}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, digits = 3) => Number(x.toFixed(digits));

export default async function whisperSimd(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const reps = quick ? 1 : 3;
  const seconds = quick ? 5 : 10;

  log('default build (node native/build-whisper.mjs --out-dir .cache/whisper-default --default)');
  run(process.execPath, [buildScript, '--out-dir', defaultBuildDir, '--default']);
  log('SIMD build (node native/build-whisper.mjs)');
  run(process.execPath, [buildScript]);
  const stamp = simdStamp();
  if (!stamp)
    throw new Error('node_modules holds no SIMD build of smart-whisper (see the warning above)');
  const builds = {
    default: path.join(defaultBuildDir, 'build/Release/smart-whisper.node'),
    simd: path.join(repoRoot, 'node_modules/smart-whisper/build/Release/smart-whisper.node'),
  };

  const model = await ensureWhisperModel('tiny');
  const audio = speechAudio(seconds);
  const loadBefore = os.loadavg()[0]!;
  const results = { default: [] as ChildRun[], simd: [] as ChildRun[] };
  for (let i = 0; i < reps; i++) {
    for (const name of ['default', 'simd'] as const) {
      const r = await transcribeInChild(builds[name], model, audio);
      results[name].push(r);
      log(
        `${name} run ${i + 1}/${reps}: ${r.runs[0]!.wall_s.toFixed(2)} s transcribe, ${r.load_s.toFixed(2)} s load, ${r.runs[0]!.n_tokens} tokens`,
      );
    }
  }
  const wall = (name: 'default' | 'simd') => median(results[name].map((r) => r.runs[0]!.wall_s));
  const fastest = (name: 'default' | 'simd') =>
    Math.min(...results[name].map((r) => r.runs[0]!.wall_s));
  const load = (name: 'default' | 'simd') => median(results[name].map((r) => r.load_s));
  const tokens = (name: 'default' | 'simd') => results[name].map((r) => r.runs[0]!.n_tokens);
  return {
    quick,
    audio_s: seconds,
    runs: reps,
    threads: THREADS,
    max_tokens: MAX_TOKENS,
    model: 'generated tiny.en shape, f16, random weights',
    default_wall_s: round(wall('default')),
    simd_wall_s: round(wall('simd')),
    speedup: round(wall('default') / wall('simd'), 2),
    // Other processes on a 2-core machine stall ggml's spinning thread barriers; the fastest run is the least disturbed.
    default_min_s: round(fastest('default')),
    simd_min_s: round(fastest('simd')),
    speedup_min: round(fastest('default') / fastest('simd'), 2),
    default_load_s: round(load('default')),
    simd_load_s: round(load('simd')),
    // Random weights decode differently on each build; the token counts show the decoder work was comparable.
    default_tokens: tokens('default'),
    simd_tokens: tokens('simd'),
    simd_flags: stamp.flags.join(' '),
    loadavg_1m: [round(loadBefore, 2), round(os.loadavg()[0]!, 2)],
  };
}
