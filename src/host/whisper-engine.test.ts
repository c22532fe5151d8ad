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
  type SettledTranscription,
} from './whisper-engine-child';
import {
  endOfTextToken,
  piecesOfText,
  segmentTokens,
  type NativeSegment,
  type TranscribedSegment,
} from './whisper-engine';
import { validateWhisperModelFile } from './whisper-model-file';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const THREADS = 2;
const FIXED_TEXT = ' Hello from Steno.';

/** Segments without their tokens, for comparing text and times. */
const spans = (segments: readonly TranscribedSegment[] | undefined) =>
  segments?.map(({ text, startMs, endMs }) => ({ text, startMs, endMs }));

/**
 * What every segment's tokens must be: texts that join to exactly the segment's
 * text (nothing trimmed), times within the segment that never decrease or overlap.
 */
function expectWellFormedTokens(segment: TranscribedSegment): void {
  expect(segment.tokens.length).toBeGreaterThan(0);
  expect(segment.tokens.map((t) => t.text).join('')).toBe(segment.text);
  let previousEnd = segment.startMs;
  for (const t of segment.tokens) {
    expect(t.startMs, JSON.stringify(t)).toBeGreaterThanOrEqual(previousEnd);
    expect(t.endMs, JSON.stringify(t)).toBeGreaterThanOrEqual(t.startMs);
    expect(t.endMs, JSON.stringify(t)).toBeLessThanOrEqual(segment.endMs);
    expect(t.p).toBeGreaterThan(0);
    expect(t.p).toBeLessThanOrEqual(1);
    previousEnd = t.endMs;
  }
}

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

describe("segment tokens from smart-whisper's detail output", () => {
  const EN_EOT = 50256;
  const BEG = 50363; // [_BEG_] of an English-only vocab, i.e. <|0.00|>
  const token = (id: number, text: string, p: number, from: number, to: number) => ({
    id,
    text,
    p,
    from,
    to,
  });

  it("knows whisper.cpp's end-of-text id: 50256 English-only, 50257 multilingual", () => {
    // whisper_vocab: token_eot 50256, incremented when n_vocab >= 51865 (is_multilingual).
    expect(endOfTextToken({ multilingual: false })).toBe(50256);
    expect(endOfTextToken({ multilingual: true })).toBe(50257);
  });

  it('keeps text tokens only, offsets them, and clamps their times into the segment, in order', () => {
    const raw: NativeSegment = {
      from: 1000,
      to: 3000,
      text: ' one two',
      tokens: [
        token(BEG, '[_BEG_]', 0.9, 1000, 1000),
        token(530, ' one', 0.8, 950, 1800), // starts before the segment
        token(734, ' two', 0.7, 1790, 3100), // starts before " one" ends, ends after the segment
        token(EN_EOT, '[_EOT_]', 0.6, 3000, 3000), // smart-whisper's own `id > eot` would keep it
        token(BEG + 100, '[_TT_100]', 0.5, 3000, 3000),
      ],
    };
    expect(segmentTokens(raw, EN_EOT, 500)).toEqual([
      { text: ' one', startMs: 1500, endMs: 2290, p: 0.8 },
      { text: ' two', startMs: 2290, endMs: 3500, p: 0.7 },
    ]);
    // With a multilingual vocab 50256 is a text token (50257 is its end of text).
    const multilingual = { ...raw, text: ' one two!' };
    multilingual.tokens = [...raw.tokens!.slice(0, 3), token(50256, '!', 0.4, 2900, 2950)];
    expect(segmentTokens(multilingual, 50257, 0).map((t) => t.text)).toEqual([' one', ' two', '!']);
  });

  it('makes one token of a run of tokens that each hold part of a character', () => {
    const text = ' Köln 東京!';
    // As V8 decodes the bytes of each token alone: ö = c3 b6 split; 東京 = e6 9d b1 e4 ba ac
    // split as [e6 9d] [b1 e4] [ba ac]; " K" and "ln " and "!" are whole.
    const parts = [' K', '\uFFFD', '\uFFFD', 'ln ', '\uFFFD', '\uFFFD\uFFFD', '\uFFFD\uFFFD', '!'];
    expect(piecesOfText(text, parts)).toEqual([
      { text: ' K', first: 0, end: 1 },
      { text: 'ö', first: 1, end: 3 },
      { text: 'ln ', first: 3, end: 4 },
      { text: '東京', first: 4, end: 7 },
      { text: '!', first: 7, end: 8 },
    ]);
    const raw: NativeSegment = {
      from: 0,
      to: 2000,
      text,
      tokens: parts.map((t, i) => token(100 + i, t, 0.9 - i / 100, 200 * i, 200 * i + 150)),
    };
    const tokens = segmentTokens(raw, EN_EOT, 0);
    expect(tokens.map((t) => t.text)).toEqual([' K', 'ö', 'ln ', '東京', '!']);
    // A merged token spans its first part's start to its last part's end, with the lowest p.
    expect(tokens[3]).toEqual({ text: '東京', startMs: 800, endMs: 1350, p: 0.9 - 6 / 100 });
  });

  it('falls back to one token for the whole text when the tokens do not spell it', () => {
    expect(piecesOfText(' one two', [' one', ' three'])).toBeNull();
    expect(piecesOfText(' one two', [' one'])).toBeNull();
    // A run of parts of characters stands for at least one character: none is left here.
    expect(piecesOfText('a', ['\uFFFD', 'a'])).toBeNull();
    const raw: NativeSegment = {
      from: 0,
      to: 900,
      text: ' one two',
      tokens: [token(530, ' one', 0.8, 0, 400), token(1115, ' three', 0.6, 400, 900)],
    };
    expect(segmentTokens(raw, EN_EOT, 100)).toEqual([
      { text: ' one two', startMs: 100, endMs: 1000, p: 0.6 },
    ]);
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
      expect(r.json.runs).toHaveLength(1);
      expect(spans(r.json.runs?.[0]?.segments)).toEqual([
        { text: FIXED_TEXT, startMs: 0, endMs: 30000 },
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
    const runs = r.json?.ok ? (r.json.runs ?? []) : [];
    expect(runs.map((x) => spans(x.segments))).toEqual([want, want]);
    expect(runs[1]?.segments).toEqual(runs[0]?.segments); // tokens too
  });

  it('gives each segment its text tokens with times, special tokens left out', async () => {
    const audio = speechWav(5);
    const r = await runEngineChild({ model: fixed.path, audio });
    expect(r.json, r.stderrTail).toMatchObject({ ok: true });
    const segment = r.json?.ok ? r.json.runs?.[0]?.segments[0] : undefined;
    expect(segment).toBeDefined();
    if (!segment) return;
    expectWellFormedTokens(segment);
    // The model says one byte token per character, between <|0.00|> and <|30.00|>:
    // exactly those characters, no timestamp or end-of-text token.
    expect(segment.tokens.map((t) => t.text)).toEqual([...FIXED_TEXT]);
    // The times come from the audio, not from the segment: not all one instant.
    expect(new Set(segment.tokens.map((t) => t.startMs)).size).toBeGreaterThan(1);

    const shifted = await runEngineChild({ model: fixed.path, audio, offsetMs: 61_250 });
    expect(shifted.json, shifted.stderrTail).toMatchObject({ ok: true });
    const moved = shifted.json?.ok ? shifted.json.runs?.[0]?.segments[0] : undefined;
    expect(moved?.tokens).toEqual(
      segment.tokens.map((t) => ({ ...t, startMs: t.startMs + 61_250, endMs: t.endMs + 61_250 })),
    );
  });

  it('decodes each 30 s window on its own with noContext', async () => {
    // The fixed-text model only works from an empty prompt (see fixedTextFiller): with
    // the first window's text as the second window's prompt it would say nothing there.
    // 45 s: whisper.cpp drops the context anyway for a last window of 5 s or less.
    const audio = syntheticWav('noise', 45);
    const alone = await runEngineChild({ model: fixed.path, audio, noContext: true });
    expect(spans(alone.json?.ok ? alone.json.runs?.[0]?.segments : undefined)).toEqual([
      { text: FIXED_TEXT, startMs: 0, endMs: 30000 },
      { text: FIXED_TEXT, startMs: 30000, endMs: 60000 },
    ]);
    const conditioned = await runEngineChild({ model: fixed.path, audio });
    expect(spans(conditioned.json?.ok ? conditioned.json.runs?.[0]?.segments : undefined)).toEqual([
      { text: FIXED_TEXT, startMs: 0, endMs: 30000 },
    ]);
  });

  it('speaks non-ASCII fixed text byte for byte', async () => {
    const text = ' Grüße aus Köln — 東京!';
    const model = await ensureFixedTextWhisperModel(text);
    expect(model.text).toBe(text);
    const r = await runEngineChild({ model: model.path, audio: syntheticWav('silence', 3) });
    const segments = r.json?.ok ? (r.json.runs?.[0]?.segments ?? []) : [];
    expect(segments.map((s) => s.text)).toEqual([text]);
    // Each non-ASCII character is several byte tokens, each undecodable alone; they
    // come back as one token per run of them, with the characters themselves.
    expectWellFormedTokens(segments[0]!);
    expect(segments[0]!.tokens.map((t) => t.text)).toEqual([
      ...[...' Gr'],
      'üß',
      ...[...'e aus K'],
      'ö',
      ...[...'ln '],
      '—',
      ' ',
      '東京',
      '!',
    ]);
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
    const outcomes = (settled: SettledTranscription[] | undefined) =>
      settled?.map((o) => (o.ok ? { ok: true, segments: spans(o.segments) } : o));
    expect(outcomes(queued.json?.ok ? queued.json.settled : undefined)).toEqual([ok, ok, ok]);

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
    expect(outcomes(early.json?.ok ? early.json.settled : undefined)).toEqual([
      ok,
      refused,
      refused,
    ]);
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
    // Tokens included; the CLI prints probabilities with 6 significant digits.
    const comparable = (s: readonly TranscribedSegment[] | undefined) =>
      s?.map((x) => ({
        ...x,
        tokens: x.tokens.map((t) => ({ ...t, p: Number(t.p.toPrecision(6)) })),
      }));
    expect(comparable(segments)).toEqual(comparable(theirs.segments));
    for (const s of theirs.segments) expectWellFormedTokens(s);
    return theirs.segments;
  };

  it('gives the same segments for the fixed-text model', async () => {
    const fixed = await ensureFixedTextWhisperModel(FIXED_TEXT);
    const segments = await compare(fixed.path, speechWav(5), 0);
    expect(spans(segments)).toEqual([{ text: FIXED_TEXT, startMs: 0, endMs: 30000 }]);
    expect(segments[0]?.tokens.map((t) => t.text)).toEqual([...FIXED_TEXT]);
  });

  it('gives the same segments (text, times and tokens) for the tiny-shaped model on speech', async () => {
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
