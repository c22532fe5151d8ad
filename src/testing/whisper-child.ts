/**
 * Loads a Whisper model with smart-whisper's low-level addon API, transcribes
 * audio N times, frees the model and prints one JSON line. Meant to run as a
 * child process: a model that fails to load takes the whole process down, so
 * tests and benchmarks never load one in their own process.
 *
 *   node --import tsx src/testing/whisper-child.ts --model FILE
 *       [--addon path/to/smart-whisper.node]   (default: the one in node_modules)
 *       [--audio FILE.f32 | --seconds 5]       (16 kHz mono float32 LE; default a synthetic signal)
 *       [--runs 1] [--threads 2] [--max-tokens 16]
 *
 * Output (last stdout line): { ok, addon, load_s, runs: [{ wall_s, n_tokens, text }] }.
 * whisper.cpp's own log goes to stderr.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);

/** What the raw addon (build/Release/smart-whisper.node) exports; smart-whisper's dist only re-exports it. */
interface Handle {
  readonly __brand: 'whisper-handle';
}
interface NativeModel {
  readonly handle: Handle | null;
  free(): Promise<void>;
}
interface Segment {
  text: string;
  tokens?: { id: number; text: string }[];
}
interface Addon {
  WhisperModel: { load(file: string, gpu?: boolean): Promise<NativeModel> };
  transcribe(
    handle: Handle,
    pcm: Float32Array,
    params: Record<string, unknown>,
    finish: (results: Segment[] | Error) => void,
    progress: (segment: Segment) => void,
  ): void;
}

export function defaultAddonPath(): string {
  return path.join(
    path.dirname(require.resolve('smart-whisper/package.json')),
    'build/Release/smart-whisper.node',
  );
}

/** A deterministic 16 kHz test signal: a gliding tone with harmonics and an amplitude envelope, like voiced speech. */
export function syntheticAudio(seconds: number): Float32Array {
  const rate = 16000;
  const out = new Float32Array(Math.round(seconds * rate));
  let phase = 0;
  for (let i = 0; i < out.length; i++) {
    const t = i / rate;
    const f0 = 140 + 40 * Math.sin(2 * Math.PI * 0.7 * t);
    phase += (2 * Math.PI * f0) / rate;
    const envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
    out[i] =
      0.2 * envelope * (Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.25 * Math.sin(3 * phase));
  }
  return out;
}

/**
 * Greedy, one pass: temperature fallback (which re-decodes up to 5 more times
 * when a random model's output looks poor) is off, and no timestamps, so a
 * window is decoded once and the work per run is the same on every build.
 */
function transcribeParams(threads: number, maxTokens: number): Record<string, unknown> {
  return {
    strategy: 0,
    n_threads: threads,
    max_tokens: maxTokens,
    temperature: 0,
    temperature_inc: 0,
    no_timestamps: true,
    single_segment: true,
    language: 'en',
    format: 'detail',
  };
}

function transcribe(
  addon: Addon,
  handle: Handle,
  pcm: Float32Array,
  params: Record<string, unknown>,
): Promise<Segment[]> {
  return new Promise((resolve, reject) => {
    // smart-whisper reports failure by calling `finish` with an Error, not by throwing.
    addon.transcribe(
      handle,
      pcm,
      params,
      (r) => (r instanceof Error ? reject(r) : resolve(r)),
      () => undefined,
    );
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      addon: { type: 'string' },
      audio: { type: 'string' },
      seconds: { type: 'string', default: '5' },
      runs: { type: 'string', default: '1' },
      threads: { type: 'string', default: '2' },
      'max-tokens': { type: 'string', default: '16' },
    },
  });
  if (!values.model) throw new Error('--model is required');
  const addonPath = path.resolve(values.addon ?? defaultAddonPath());
  const addon = require(addonPath) as Addon;
  const pcm = values.audio
    ? new Float32Array(new Uint8Array(fs.readFileSync(values.audio)).buffer)
    : syntheticAudio(Number(values.seconds));
  const params = transcribeParams(Number(values.threads), Number(values['max-tokens']));

  let t = performance.now();
  const model = await addon.WhisperModel.load(values.model, false);
  const loadS = (performance.now() - t) / 1000;
  const runs: { wall_s: number; n_tokens: number; text: string }[] = [];
  try {
    const handle = model.handle;
    if (!handle) throw new Error('model has no handle after load');
    for (let i = 0; i < Number(values.runs); i++) {
      t = performance.now();
      const segments = await transcribe(addon, handle, pcm, params);
      runs.push({
        wall_s: (performance.now() - t) / 1000,
        n_tokens: segments.reduce((n, s) => n + (s.tokens?.length ?? 0), 0),
        text: segments.map((s) => s.text).join(''),
      });
    }
  } finally {
    // Only after every transcription has finished: free() during one crashes.
    await model.free();
  }
  console.log(
    JSON.stringify({
      ok: true,
      addon: addonPath,
      load_s: loadS,
      audio_s: pcm.length / 16000,
      runs,
    }),
  );
}

// Run as a script only; other harnesses import syntheticAudio from here.
if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  main().catch((e: unknown) => {
    console.log(JSON.stringify({ ok: false, error: String((e as Error)?.message ?? e) }));
    process.exitCode = 1;
  });
}
