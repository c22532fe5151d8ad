/**
 * WhisperEngine and the model-file check. Every native load runs in a child
 * process (./whisper-engine-child.ts): a model smart-whisper cannot load takes
 * its whole process down, and that must never be the test runner. The file
 * checks themselves run here, in the test process, which proves they never
 * touch the native loader.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StenoError } from '../core/errors';
import {
  ensureFixedTextWhisperModel,
  ensureWhisperModel,
  vocabBytes,
  type FixedTextModel,
} from '../testing/ggml-whisper-model';
import { makeTempDir, removeTempDir } from '../testing/tmp';
import {
  runEngineChild,
  runWhisperCli,
  speechWav,
  syntheticWav,
  type CliOptions,
} from './whisper-engine-child';
import { validateWhisperModelFile } from './whisper-model-file';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const THREADS = 2;
const FIXED_TEXT = ' Hello from Steno.';

/** Byte offsets in a generated model (80 mel filters): see the format in whisper-model-file.ts. */
const MEL_AT = 4 + 44;
const VOCAB_AT = MEL_AT + 8 + 80 * 201 * 4;
const firstTensorAt = () => VOCAB_AT + vocabBytes().length;

async function expectInvalid(file: string, problem: RegExp): Promise<StenoError> {
  const error = await validateWhisperModelFile(file).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `${file} should be rejected`).toBeInstanceOf(StenoError);
  const e = error as StenoError;
  expect(e.code).toBe('MODEL_INVALID');
  expect(e.message.startsWith(`The Whisper model ${file} `)).toBe(true);
  expect(e.message).toMatch(problem);
  expect(e.message.endsWith('.')).toBe(true);
  expect(e.action.length).toBeGreaterThan(10);
  return e;
}

/**
 * What validateWhisperModelFile says about `file` to a reader without special
 * rights, from a child process. Root reads any file whatever its mode, so when
 * the tests run as root that child runs as `nobody` (and the file's folder is
 * opened to it); as an ordinary user it runs as that user.
 */
function rejectionForUnprivilegedReader(file: string): string {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) fs.chmodSync(path.dirname(file), 0o755);
  const validator = JSON.stringify(path.join(repoRoot, 'src/host/whisper-model-file.ts'));
  const script =
    `const { validateWhisperModelFile } = await import(${validator});` +
    `await validateWhisperModelFile(process.argv[1]).then(` +
    `() => console.log('accepted'), (e) => console.log(e.message));`;
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, file],
    { cwd: repoRoot, encoding: 'utf8', ...(asRoot ? { uid: 65534, gid: 65534 } : {}) },
  );
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trim();
}

describe('validateWhisperModelFile', () => {
  let dir: string;
  let good: Buffer;
  beforeAll(async () => {
    dir = makeTempDir('steno-whisper-model-');
    good = fs.readFileSync(await ensureWhisperModel('micro'));
  });
  afterAll(() => removeTempDir(dir));

  /** A copy of the good micro model, changed by `edit`. */
  const variant = (name: string, edit: (b: Buffer) => Buffer): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, edit(Buffer.from(good)));
    return file;
  };
  const withInt = (index: number, value: number) => (b: Buffer) => {
    b.writeInt32LE(value, 4 + 4 * index);
    return b;
  };

  it('accepts the generated models and describes them', async () => {
    const micro = await validateWhisperModelFile(await ensureWhisperModel('micro'));
    expect(micro).toMatchObject({ type: 'custom', ftypeName: 'f16', multilingual: false });
    expect(micro.dims.nAudioState).toBe(4);
    const tiny = await validateWhisperModelFile(await ensureWhisperModel('tiny'));
    expect(tiny).toMatchObject({ type: 'tiny', name: 'tiny.en', ftype: 1, tensorCount: 167 });
    expect(tiny.dims).toMatchObject({ nVocab: 51864, nAudioLayer: 4, nTextState: 384 });
  });

  it('rejects missing, unreadable and empty files', async () => {
    await expectInvalid(path.join(dir, 'nope.bin'), /does not exist/);
    await expectInvalid(dir, /is not a regular file \(it is a directory\)/);
    await expectInvalid(
      variant('empty.bin', () => Buffer.alloc(0)),
      /is empty/,
    );
    const locked = variant('locked.bin', (b) => b);
    fs.chmodSync(locked, 0);
    expect(rejectionForUnprivilegedReader(locked)).toMatch(
      new RegExp(`^The Whisper model ${locked} cannot be read \\(EACCES\\)\\.$`),
    );
  });

  it('rejects a file truncated anywhere, naming where', async () => {
    const cut = (at: number) => variant(`cut-${at}.bin`, (b) => b.subarray(0, at));
    await expectInvalid(cut(2), /too short/);
    await expectInvalid(cut(30), /ends inside its header/);
    await expectInvalid(cut(MEL_AT + 4), /ends before its mel filters/);
    await expectInvalid(cut(VOCAB_AT + 1000), /ends inside its vocabulary/);
    // whisper.cpp loads this one "successfully" as an empty model, then crashes transcribing.
    await expectInvalid(
      cut(firstTensorAt()),
      new RegExp(
        `is incomplete: it has ${firstTensorAt()} bytes, but its header describes a model of ${good.length} bytes`,
      ),
    );
    await expectInvalid(cut(firstTensorAt() + 30), /is incomplete/);
    // Inside the token embedding, the file's largest tensor (and its last but a few).
    await expectInvalid(cut(good.length - 200_000), /is incomplete/);
    await expectInvalid(cut(good.length - 1), /is incomplete/);
  });

  it('rejects garbage, other formats and wrong magic', async () => {
    let x = 12345;
    const garbage = variant('garbage.bin', () =>
      Buffer.from(
        Array.from({ length: 1 << 16 }, () => (x = (x * 1103515245 + 12345) & 0x7fffffff) & 0xff),
      ),
    );
    await expectInvalid(garbage, /is not a whisper.cpp model \(it starts with 0x[0-9a-f]{8}/);
    const wrongMagic = variant('magic.bin', (b) => {
      b.writeUInt32LE(0x67676d66, 0); // "ggmf": llama.cpp's old versioned format
      return b;
    });
    await expectInvalid(wrongMagic, /not the ggml magic 0x67676d6c/);
    const gguf = variant('gguf.bin', (b) => {
      b.write('GGUF', 0, 'latin1');
      return b;
    });
    await expectInvalid(gguf, /is a GGUF file/);
    await expectInvalid(
      variant('text.bin', () => Buffer.from('{"not": "a model"}\n')),
      /is not a whisper.cpp model/,
    );
  });

  it('rejects absurd or unloadable hyperparameters', async () => {
    const cases: [string, number, number, RegExp][] = [
      ['vocab-huge', 0, 1_000_000_000, /n_vocab 1000000000/],
      ['vocab-small', 0, 100, /n_vocab 100,/],
      // 51900 passes the plausibility range but implies 134 languages: whisper.cpp aborts on it.
      ['vocab-langs', 0, 51900, /whisper.cpp knows 100/],
      ['audio-ctx', 1, 3000, /n_audio_ctx 3000/],
      ['audio-state', 2, 8, /n_audio_state 8 differs from n_text_state 4/],
      ['heads', 3, 3, /n_audio_head 3 does not divide/],
      ['layers-0', 4, 0, /n_audio_layer 0/],
      ['layers-big', 8, 1000, /n_text_layer 1000/],
      ['text-ctx', 5, 1 << 30, /n_text_ctx 1073741824/],
      ['mels', 9, 81, /n_mels 81/],
      ['ftype-unknown', 10, 99, /unknown weight type \(ftype 99\)/],
      ['ftype-negative', 10, -1, /unknown weight type/],
      ['ftype-f32', 10, 0, /32-bit floats/],
      // A quantized type needs rows of whole 32-value blocks; the micro model's are 4 wide.
      ['ftype-q8', 10, 2007, /declares q8_0 weights, which cannot hold its 4-wide rows/],
    ];
    for (const [name, index, value, problem] of cases)
      await expectInvalid(variant(`${name}.bin`, withInt(index, value)), problem);
    const melFft = variant('mel.bin', (b) => {
      b.writeInt32LE(400, MEL_AT + 4);
      return b;
    });
    await expectInvalid(melFft, /damaged mel filter block \(80 x 400; expected 80 x 201\)/);
    const vocabCount = variant('vocab-count.bin', (b) => {
      b.writeInt32LE(-5, VOCAB_AT);
      return b;
    });
    await expectInvalid(vocabCount, /damaged vocabulary/);
  });

  it('rejects a damaged tensor directory and trailing data', async () => {
    const renamed = variant('renamed.bin', (b) => {
      const at = b.indexOf('encoder.conv1.weight', firstTensorAt(), 'latin1');
      b.write('encoder.conv9', at, 'latin1');
      return b;
    });
    await expectInvalid(renamed, /holds a tensor whisper.cpp does not know \("encoder.conv9/);
    const trailing = variant('trailing.bin', (b) => Buffer.concat([b, Buffer.alloc(64, 1)]));
    await expectInvalid(trailing, /64 bytes of unexpected data after its last tensor/);
    const badDims = variant('dims.bin', (b) => {
      b.writeInt32LE(7, firstTensorAt()); // n_dims of the first tensor
      return b;
    });
    await expectInvalid(badDims, /damaged tensor header at byte/);
    const badType = variant('type.bin', (b) => {
      b.writeInt32LE(1, firstTensorAt() + 8); // encoder.positional_embedding claims f16
      return b;
    });
    await expectInvalid(
      badType,
      /has tensor encoder.positional_embedding stored as ggml type 1, not f32/,
    );
  });
});

/* ----------------------- native: in child processes ---------------------- */

describe('WhisperEngine (in a child process)', () => {
  let fixed: FixedTextModel;
  beforeAll(async () => {
    fixed = await ensureFixedTextWhisperModel(FIXED_TEXT);
  });

  it('refuses a bad model with MODEL_INVALID where raw smart-whisper crashes', async () => {
    const dir = makeTempDir('steno-whisper-crash-');
    try {
      const missing = path.join(dir, 'missing.bin');
      const viaEngine = await runEngineChild({ model: missing, audio: syntheticWav('silence', 3) });
      expect(viaEngine.signal).toBeNull();
      expect(viaEngine.code).toBe(1);
      expect(viaEngine.json).toMatchObject({ ok: false, error: { code: 'MODEL_INVALID' } });
      expect(viaEngine.json?.ok === false && viaEngine.json.error.message).toContain(missing);

      // The same file given straight to smart-whisper: the process dies (SIGSEGV), no JSON.
      const raw = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              '--import',
              'tsx',
              path.join(repoRoot, 'src/testing/whisper-child.ts'),
              '--model',
              missing,
            ],
            { stdio: 'ignore' },
          );
          child.on('error', reject);
          child.on('close', (code, signal) => resolve({ code, signal }));
        },
      );
      expect(raw.signal ?? raw.code).not.toBe(0);
      expect(raw.signal ?? `exit ${raw.code}`).not.toBe('exit 1'); // not a handled failure: a crash
    } finally {
      removeTempDir(dir);
    }
  });

  it('transcribes silence, noise and speech to the fixed text', async () => {
    const clips = [syntheticWav('silence', 3), syntheticWav('noise', 5), speechWav(5)];
    for (const audio of clips) {
      const r = await runEngineChild({ model: fixed.path, audio, threads: THREADS });
      expect(r.json, r.stderrTail).toMatchObject({ ok: true });
      if (!r.json?.ok) continue;
      expect(r.json.info).toMatchObject({ type: 'custom', multilingual: false });
      // One segment from the start of the window to its end (see fixedTextFiller).
      expect(r.json.runs).toEqual([
        { wall_s: expect.any(Number), segments: [{ text: FIXED_TEXT, startMs: 0, endMs: 30000 }] },
      ]);
    }
  });

  it('adds offsetMs, maps language "auto" on an English-only model, and repeats deterministically', async () => {
    const r = await runEngineChild({
      model: fixed.path,
      audio: syntheticWav('noise', 5),
      offsetMs: 61_250,
      language: 'auto',
      runs: 2,
    });
    expect(r.json, r.stderrTail).toMatchObject({ ok: true });
    const want = [{ text: FIXED_TEXT, startMs: 61_250, endMs: 91_250 }];
    expect(r.json?.ok && r.json.runs?.map((x) => x.segments)).toEqual([want, want]);
  });

  it('decodes each 30 s window on its own with noContext', async () => {
    // The fixed-text model only works from an empty prompt (see fixedTextFiller): with
    // the first window's text as the second window's prompt it would say nothing there.
    // 45 s: whisper.cpp drops the context anyway for a last window of 5 s or less.
    const audio = syntheticWav('noise', 45);
    const alone = await runEngineChild({ model: fixed.path, audio, noContext: true });
    expect(alone.json?.ok && alone.json.runs?.[0]?.segments).toEqual([
      { text: FIXED_TEXT, startMs: 0, endMs: 30000 },
      { text: FIXED_TEXT, startMs: 30000, endMs: 60000 },
    ]);
    const conditioned = await runEngineChild({ model: fixed.path, audio });
    expect(conditioned.json?.ok && conditioned.json.runs?.[0]?.segments).toEqual([
      { text: FIXED_TEXT, startMs: 0, endMs: 30000 },
    ]);
  });

  it('speaks non-ASCII fixed text byte for byte', async () => {
    const text = ' Grüße aus Köln — 東京!';
    const model = await ensureFixedTextWhisperModel(text);
    expect(model.text).toBe(text);
    const r = await runEngineChild({ model: model.path, audio: syntheticWav('silence', 3) });
    expect(r.json?.ok && r.json.runs?.[0]?.segments.map((s) => s.text)).toEqual([text]);
  });

  it('queues concurrent calls, and on dispose finishes the running one and refuses the waiting', async () => {
    const audio = syntheticWav('silence', 3);
    const queued = await runEngineChild({
      model: fixed.path,
      audio,
      extraArgs: ['--concurrent', '3'],
    });
    expect(queued.signal, queued.stderrTail).toBeNull();
    const ok = { ok: true, segments: [{ text: FIXED_TEXT, startMs: 0, endMs: 30000 }] };
    expect(queued.json?.ok && queued.json.settled).toEqual([ok, ok, ok]);

    const early = await runEngineChild({
      model: fixed.path,
      audio,
      extraArgs: ['--concurrent', '3', '--dispose-early'],
    });
    // free() during a transcription would have crashed the child: it exits cleanly instead.
    expect(early.signal, early.stderrTail).toBeNull();
    expect(early.code).toBe(0);
    const refused = {
      ok: false,
      code: 'INVALID_STATE',
      message: 'The Whisper model was unloaded.',
    };
    expect(early.json?.ok && early.json.settled).toEqual([ok, refused, refused]);
  });
});

/* ------------------- parity with whisper.cpp's own CLI ------------------- */

describe('parity with the whisper.cpp CLI built from the same sources', () => {
  const cli = path.join(repoRoot, '.cache/whisper-cli/whisper-cli');
  beforeAll(() => {
    // Idempotent (a stamp); the first build compiles whisper.cpp, about 100 s on 2 busy cores.
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'native/build-whisper-cli.mjs')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (r.status !== 0) throw new Error(`building the whisper.cpp CLI failed: ${r.stderr}`);
  }, 600_000);

  const compare = async (model: string, wav: string, maxTokens: number, noContext = false) => {
    const opts: CliOptions = {
      cli,
      model,
      wav,
      threads: THREADS,
      language: 'en',
      maxTokens,
      noContext,
    };
    const theirs = await runWhisperCli(opts);
    const ours = await runEngineChild({
      model,
      audio: wav,
      threads: THREADS,
      maxTokens,
      noContext,
    });
    expect(ours.json, ours.stderrTail).toMatchObject({ ok: true });
    const segments = ours.json?.ok ? ours.json.runs?.[0]?.segments : undefined;
    expect(segments).toEqual(theirs.segments);
    return theirs.segments;
  };

  it('gives the same segments for the fixed-text model', async () => {
    const fixed = await ensureFixedTextWhisperModel(FIXED_TEXT);
    const segments = await compare(fixed.path, speechWav(5), 0);
    expect(segments).toEqual([{ text: FIXED_TEXT, startMs: 0, endMs: 30000 }]);
  });

  it('gives the same segments (text and times) for the tiny-shaped model on speech', async () => {
    const tiny = await ensureWhisperModel('tiny');
    const segments = await compare(tiny, speechWav(10), 32);
    // Random weights still produce output, several segments over two windows: a real comparison.
    expect(segments.length).toBeGreaterThan(1);
  }, 240_000);

  it('stays equal with noContext (-mc 0)', async () => {
    const tiny = await ensureWhisperModel('tiny');
    await compare(tiny, speechWav(10), 8, true);
  }, 240_000);
});
