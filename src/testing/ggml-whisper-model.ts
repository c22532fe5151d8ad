/**
 * Generates Whisper model files in the legacy ggml format that whisper.cpp's
 * `whisper_model_load` (smart-whisper's bundled src/whisper.cpp) reads. Real
 * weights cannot be downloaded on the build machine; a generated model with
 * tiny.en's shape costs what the real one costs to run, and a micro one loads
 * in milliseconds.
 *
 * File layout (all little-endian):
 *   u32 magic 0x67676d6c
 *   i32 x 11 hparams: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
 *                     n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype
 *   i32 n_mel, i32 n_fft, f32[n_mel * n_fft] mel filters
 *   i32 n_tokens, then per token: u32 length, bytes
 *   per tensor: i32 n_dims, i32 name length, i32 type (0 f32, 1 f16),
 *               i32 ne[n_dims] (ggml order: ne[0] varies fastest), name, data
 *
 * Like OpenAI's convert script, the vocab holds the 50256 GPT-2 tokens only;
 * whisper.cpp adds the special tokens itself (n_vocab 51864 = English-only:
 * eot 50256, sot 50257, ..., no-timestamps 50362, timestamp 0 at 50363).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../core/prng';

export type GgmlType = 'f32' | 'f16';

export interface WhisperHParams {
  n_vocab: number;
  n_audio_ctx: number;
  n_audio_state: number;
  n_audio_head: number;
  n_audio_layer: number;
  n_text_ctx: number;
  n_text_state: number;
  n_text_head: number;
  n_text_layer: number;
  n_mels: number;
}

/** tiny.en's dimensions. */
export const TINY_HPARAMS: Readonly<WhisperHParams> = {
  n_vocab: 51864,
  n_audio_ctx: 1500,
  n_audio_state: 384,
  n_audio_head: 6,
  n_audio_layer: 4,
  n_text_ctx: 448,
  n_text_state: 384,
  n_text_head: 6,
  n_text_layer: 4,
  n_mels: 80,
};

/**
 * The smallest model whisper.cpp runs like a real one. The context lengths stay
 * real: whisper_full always encodes a 30 s window (2 * n_audio_ctx mel frames)
 * and decodes at most n_text_ctx / 2 - 4 tokens, so shrinking them would change
 * how it seeks through audio. n_text_layer must not be 2 (whisper.cpp then
 * assumes a distil model and forces no-timestamps mode). n_vocab is the
 * English-only minimum. The state is what the token embedding (n_vocab rows)
 * costs: 4 floats a row.
 */
export const MICRO_HPARAMS: Readonly<WhisperHParams> = {
  n_vocab: 51864,
  n_audio_ctx: 1500,
  n_audio_state: 4,
  n_audio_head: 1,
  n_audio_layer: 1,
  n_text_ctx: 448,
  n_text_state: 4,
  n_text_head: 1,
  n_text_layer: 1,
  n_mels: 80,
};

export interface TensorSpec {
  name: string;
  /** ggml dimensions, ne[0] varies fastest; element i of ne = [a, b] is at (i % a, floor(i / a)). */
  ne: number[];
  type: GgmlType;
  /** Inputs per output, for scaling random weights. */
  fanIn: number;
}

/**
 * Fills `chunk` with the tensor's elements firstElement .. firstElement + chunk.length - 1.
 * Called in order over the whole tensor, chunk by chunk.
 */
export type TensorFiller = (chunk: Float32Array, firstElement: number) => void;

export interface WhisperModelOptions {
  shape: 'tiny' | 'micro';
  /**
   * Storage type of the matrices and convolutions (default f16). An f32 model
   * loads, but this whisper.cpp aborts the process in its first transcription
   * (im2col asserts an f16 kernel: GGML_ASSERT(src0->type == GGML_TYPE_F16)).
   */
  ftype?: GgmlType;
  /** Dimensions replacing the shape's (e.g. a wider micro model). */
  hparams?: Partial<WhisperHParams>;
  /** Seed of the deterministic pseudo-random weights. */
  seed?: number;
  /**
   * Per-tensor override of the weights, e.g. a decoder positional embedding that
   * spells a fixed token sequence. Return undefined to keep the default weights.
   */
  fillTensor?: (tensor: TensorSpec, hparams: WhisperHParams) => TensorFiller | undefined;
}

const GGML_FILE_MAGIC = 0x67676d6c;
const N_FFT_BINS = 201; // 1 + 400 / 2: whisper's 25 ms window at 16 kHz
const SAMPLE_RATE = 16000;
const N_TEXT_TOKENS = 50256;
const CHUNK_ELEMENTS = 1 << 16;

export function resolveHParams(options: WhisperModelOptions): WhisperHParams {
  const base = options.shape === 'tiny' ? TINY_HPARAMS : MICRO_HPARAMS;
  const hp = { ...base, ...options.hparams };
  if (hp.n_text_layer === 2)
    throw new Error('n_text_layer = 2 makes whisper.cpp treat the model as distil (no timestamps)');
  if (hp.n_audio_state !== hp.n_text_state)
    throw new Error('whisper.cpp requires n_audio_state === n_text_state');
  if (hp.n_vocab < 51864)
    throw new Error(
      'n_vocab must be at least 51864 (the special tokens follow the 50256 text tokens)',
    );
  if (hp.n_audio_state % hp.n_audio_head || hp.n_text_state % hp.n_text_head)
    throw new Error('state must divide by heads');
  return hp;
}

function ftypeOf(options: WhisperModelOptions): GgmlType {
  return options.ftype ?? 'f16';
}

/** Tensors in the order OpenAI's state dict (and so the convert script) lists them. */
export function tensorSpecs(hp: WhisperHParams, ftype: GgmlType): TensorSpec[] {
  const specs: TensorSpec[] = [];
  const add = (name: string, ne: number[], type: GgmlType, fanIn = ne[0] ?? 1) =>
    specs.push({ name, ne, type, fanIn });
  const s = hp.n_audio_state;
  const block = (prefix: string, st: number, cross: boolean) => {
    const attn = (p: string) => {
      add(`${p}.query.weight`, [st, st], ftype);
      add(`${p}.query.bias`, [st], 'f32', st);
      add(`${p}.key.weight`, [st, st], ftype);
      add(`${p}.value.weight`, [st, st], ftype);
      add(`${p}.value.bias`, [st], 'f32', st);
      add(`${p}.out.weight`, [st, st], ftype);
      add(`${p}.out.bias`, [st], 'f32', st);
    };
    attn(`${prefix}.attn`);
    add(`${prefix}.attn_ln.weight`, [st], 'f32');
    add(`${prefix}.attn_ln.bias`, [st], 'f32');
    if (cross) {
      attn(`${prefix}.cross_attn`);
      add(`${prefix}.cross_attn_ln.weight`, [st], 'f32');
      add(`${prefix}.cross_attn_ln.bias`, [st], 'f32');
    }
    add(`${prefix}.mlp.0.weight`, [st, 4 * st], ftype);
    add(`${prefix}.mlp.0.bias`, [4 * st], 'f32', st);
    add(`${prefix}.mlp.2.weight`, [4 * st, st], ftype);
    add(`${prefix}.mlp.2.bias`, [st], 'f32', 4 * st);
    add(`${prefix}.mlp_ln.weight`, [st], 'f32');
    add(`${prefix}.mlp_ln.bias`, [st], 'f32');
  };
  // Convolutions are stored as ftype too (whisper.cpp's "vtype"); biases as [1, n_state] f32.
  add('encoder.positional_embedding', [s, hp.n_audio_ctx], 'f32');
  add('encoder.conv1.weight', [3, hp.n_mels, s], ftype, 3 * hp.n_mels);
  add('encoder.conv1.bias', [1, s], 'f32', 3 * hp.n_mels);
  add('encoder.conv2.weight', [3, s, s], ftype, 3 * s);
  add('encoder.conv2.bias', [1, s], 'f32', 3 * s);
  for (let i = 0; i < hp.n_audio_layer; i++) block(`encoder.blocks.${i}`, s, false);
  add('encoder.ln_post.weight', [s], 'f32');
  add('encoder.ln_post.bias', [s], 'f32');
  const t = hp.n_text_state;
  add('decoder.positional_embedding', [t, hp.n_text_ctx], 'f32');
  add('decoder.token_embedding.weight', [t, hp.n_vocab], ftype);
  for (let i = 0; i < hp.n_text_layer; i++) block(`decoder.blocks.${i}`, t, true);
  add('decoder.ln.weight', [t], 'f32');
  add('decoder.ln.bias', [t], 'f32');
  return specs;
}

const bytesPer = (type: GgmlType) => (type === 'f16' ? 2 : 4);
const elementsOf = (ne: number[]) => ne.reduce((a, b) => a * b, 1);

/** Exact size of the file writeWhisperModel produces for these options. */
export function whisperModelByteSize(options: WhisperModelOptions): number {
  const hp = resolveHParams(options);
  let size = 4 + 11 * 4 + 8 + hp.n_mels * N_FFT_BINS * 4 + vocabBytes().length;
  for (const t of tensorSpecs(hp, ftypeOf(options))) {
    size += 12 + 4 * t.ne.length + Buffer.byteLength(t.name) + elementsOf(t.ne) * bytesPer(t.type);
  }
  return size;
}

/** Writes the model to `file` via a temporary file and a rename: a killed run leaves no partial model. */
export async function writeWhisperModel(file: string, options: WhisperModelOptions): Promise<void> {
  const hp = resolveHParams(options);
  const ftype = ftypeOf(options);
  const seed = options.seed ?? 0x5eed;
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    const ints = (...v: number[]) => {
      const b = Buffer.alloc(4 * v.length);
      v.forEach((x, i) => b.writeInt32LE(x, 4 * i));
      return b;
    };
    const header = Buffer.alloc(4);
    header.writeUInt32LE(GGML_FILE_MAGIC);
    await fh.write(header);
    await fh.write(
      ints(
        hp.n_vocab,
        hp.n_audio_ctx,
        hp.n_audio_state,
        hp.n_audio_head,
        hp.n_audio_layer,
        hp.n_text_ctx,
        hp.n_text_state,
        hp.n_text_head,
        hp.n_text_layer,
        hp.n_mels,
        ftype === 'f16' ? 1 : 0,
      ),
    );
    await fh.write(ints(hp.n_mels, N_FFT_BINS));
    const filters = melFilters(hp.n_mels);
    await fh.write(Buffer.from(filters.buffer, filters.byteOffset, filters.byteLength));
    await fh.write(vocabBytes());

    const chunk = new Float32Array(CHUNK_ELEMENTS);
    const out = Buffer.alloc(CHUNK_ELEMENTS * 4);
    for (const spec of tensorSpecs(hp, ftype)) {
      const name = Buffer.from(spec.name);
      await fh.write(
        Buffer.concat([
          ints(spec.ne.length, name.length, spec.type === 'f16' ? 1 : 0),
          ints(...spec.ne),
          name,
        ]),
      );
      const fill = options.fillTensor?.(spec, hp) ?? defaultFiller(spec, seed, hp);
      const total = elementsOf(spec.ne);
      for (let first = 0; first < total; first += CHUNK_ELEMENTS) {
        const n = Math.min(CHUNK_ELEMENTS, total - first);
        const view = chunk.subarray(0, n);
        fill(view, first);
        const bytes = encode(view, spec.type, out);
        await fh.write(out, 0, bytes);
      }
    }
    await fh.sync();
  } catch (e) {
    await fh.close();
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await fs.promises.rename(tmp, file);
}

function encode(values: Float32Array, type: GgmlType, out: Buffer): number {
  if (type === 'f32') {
    for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i]!, 4 * i);
    return 4 * values.length;
  }
  for (let i = 0; i < values.length; i++)
    out.writeUInt16LE(float32ToFloat16Bits(values[i]!), 2 * i);
  return 2 * values.length;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half precision, round to nearest even; overflow to infinity, underflow through subnormals to zero. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/**
 * Weights shaped like a trained model's, so activations stay finite in f16:
 * layer-norm gains 1 and biases 0, sinusoidal encoder positions (as Whisper),
 * matrices uniform with variance 1/fanIn, small random biases.
 */
export function defaultFiller(spec: TensorSpec, seed: number, hp: WhisperHParams): TensorFiller {
  const isLn = /(^|\.)(attn_ln|cross_attn_ln|mlp_ln|ln_post|ln)\.(weight|bias)$/.test(spec.name);
  if (isLn) {
    const v = spec.name.endsWith('weight') ? 1 : 0;
    return (chunk) => chunk.fill(v);
  }
  if (spec.name === 'encoder.positional_embedding') return sinusoids(hp.n_audio_state);
  const rand = mulberry32(seed ^ hashString(spec.name));
  const isBias = spec.name.endsWith('.bias');
  // Uniform on [-a, a] has variance a^2 / 3.
  const amplitude = isBias ? 0.02 : Math.sqrt(3 / spec.fanIn);
  return (chunk) => {
    for (let i = 0; i < chunk.length; i++) chunk[i] = (rand() * 2 - 1) * amplitude;
  };
}

/** Whisper's encoder positions: [sin(t * f_k) ..., cos(t * f_k) ...] per position t. */
function sinusoids(channels: number): TensorFiller {
  const half = channels / 2;
  const logIncrement = Math.log(10000) / Math.max(1, half - 1);
  return (chunk, first) => {
    for (let i = 0; i < chunk.length; i++) {
      const idx = first + i;
      const t = Math.floor(idx / channels);
      const c = idx % channels;
      const k = c < half ? c : c - half;
      const arg = t * Math.exp(-logIncrement * k);
      chunk[i] = c < half ? Math.sin(arg) : Math.cos(arg);
    }
  };
}

export { mulberry32 };

function hashString(s: string): number {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * librosa.filters.mel(sr=16000, n_fft=400, n_mels) with Slaney's mel scale and
 * area normalisation: the filters OpenAI's models ship with. Row-major [n_mel][201].
 */
export function melFilters(nMels: number): Float32Array {
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  const hzToMel = (f: number) =>
    f < minLogHz ? f / fSp : minLogMel + Math.log(f / minLogHz) / logStep;
  const melToHz = (m: number) =>
    m < minLogMel ? m * fSp : minLogHz * Math.exp(logStep * (m - minLogMel));
  const maxMel = hzToMel(SAMPLE_RATE / 2);
  const hz = Array.from({ length: nMels + 2 }, (_, i) => melToHz((maxMel * i) / (nMels + 1)));
  const out = new Float32Array(nMels * N_FFT_BINS);
  for (let m = 0; m < nMels; m++) {
    const [lo, mid, hi] = [hz[m]!, hz[m + 1]!, hz[m + 2]!];
    const norm = 2 / (hi - lo);
    for (let k = 0; k < N_FFT_BINS; k++) {
      const f = (k * SAMPLE_RATE) / 2 / (N_FFT_BINS - 1);
      const w = Math.max(0, Math.min((f - lo) / (mid - lo), (hi - f) / (hi - mid)));
      out[m * N_FFT_BINS + k] = w * norm;
    }
  }
  return out;
}

let vocabCache: Buffer | null = null;

/**
 * The vocab section: 50256 tokens. Ids 0..255 are GPT-2's byte tokens in its
 * order (printable bytes first, so id 220 is " " as in the real vocab); the
 * merges are synthetic but unique words of two-letter syllables, half with a
 * leading space, as BPE merges look.
 */
export function vocabBytes(): Buffer {
  if (vocabCache) return vocabCache;
  const tokens: Buffer[] = [];
  for (const byte of gpt2ByteOrder()) tokens.push(Buffer.from([byte]));
  const consonants = 'bcdfghjklmnprstvwxyz';
  const vowels = 'aeiou';
  for (let id = 256; id < N_TEXT_TOKENS; id++) {
    let n = (id - 256) >> 1;
    let word = '';
    do {
      const syl = n % 100;
      word += consonants[syl % 20]! + vowels[Math.floor(syl / 20)]!;
      n = Math.floor(n / 100);
    } while (n > 0);
    tokens.push(Buffer.from((id & 1 ? ' ' : '') + word));
  }
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0]!.writeInt32LE(tokens.length);
  for (const t of tokens) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(t.length);
    parts.push(len, t);
  }
  vocabCache = Buffer.concat(parts);
  return vocabCache;
}

/** GPT-2's bytes_to_unicode order: '!'..'~', '¡'..'¬', '®'..'ÿ', then the other bytes ascending. */
function gpt2ByteOrder(): number[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const set = new Set(printable);
  const rest: number[] = [];
  for (let b = 0; b < 256; b++) if (!set.has(b)) rest.push(b);
  return [...printable, ...rest];
}

/** Bump when the generated bytes change, so cached models are regenerated. */
const GENERATOR_VERSION = 1;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MODEL_CACHE_DIR = path.join(repoRoot, '.cache/models');

/**
 * Path of a cached generated model, generating it first when it is missing or
 * its size is wrong (an interrupted copy, an older generator).
 */
export async function ensureWhisperModel(
  shape: 'tiny' | 'micro',
  ftype?: GgmlType,
): Promise<string> {
  const options: WhisperModelOptions = { shape, ...(ftype ? { ftype } : {}) };
  const file = path.join(
    MODEL_CACHE_DIR,
    `ggml-${shape}-${ftypeOf(options)}-random-v${GENERATOR_VERSION}.bin`,
  );
  const expected = whisperModelByteSize(options);
  const actual = await fs.promises.stat(file).then(
    (s) => s.size,
    () => -1,
  );
  if (actual !== expected) await writeWhisperModel(file, options);
  return file;
}

/* ------------------------------------------------------------------------- */
/* A model that transcribes any audio to a fixed, known text.                */
/* ------------------------------------------------------------------------- */

/** English-only special tokens as whisper.cpp assigns them for n_vocab 51864. */
export const EN_TOKENS = {
  eot: 50256,
  sot: 50257,
  noTimestamps: 50362,
  /** <|0.00|>; timestamp k (k * 20 ms) is timestampBegin + k, up to <|30.00|> = 51863. */
  timestampBegin: 50363,
} as const;

/** The bytes of generated-vocab token `id` (0..50255), as whisper.cpp prints it. */
export function vocabTokenBytes(id: number): Buffer {
  if (!(Number.isInteger(id) && id >= 0 && id < N_TEXT_TOKENS))
    throw new Error(`token ${id} is not a text token (0..${N_TEXT_TOKENS - 1})`);
  const vocab = vocabBytes();
  let off = 4;
  for (let i = 0; i < id; i++) off += 4 + vocab.readUInt32LE(off);
  return vocab.subarray(off + 4, off + 4 + vocab.readUInt32LE(off));
}

/** `text` as the generated vocab's byte tokens (ids 0..255 in GPT-2's byte order), one per UTF-8 byte. */
export function textToByteTokens(text: string): number[] {
  const idOfByte = new Map(gpt2ByteOrder().map((byte, id) => [byte, id]));
  return [...Buffer.from(text, 'utf8')].map((b) => idOfByte.get(b)!);
}

/**
 * Dimensions of the fixed-text model: the micro model made wide enough that
 * every token it must say gets its own orthogonal direction (2 state channels
 * each, see fixedTextFiller), one head so head width = state (a power of two).
 */
export function fixedTextHParams(distinctTokens: number): WhisperHParams {
  let state = 64;
  while (state < 2 * distinctTokens) state *= 2;
  return { ...MICRO_HPARAMS, n_audio_state: state, n_text_state: state };
}

/** Gain of the token-embedding rows (stored f16): the winning logit is about GAIN * sqrt(n_state). */
const FIXED_TEXT_GAIN = 4;
/** Positional rows are this much stronger than a token row, so the input token barely moves the output. */
const FIXED_TEXT_POSITION_GAIN = 25;

/**
 * Weights that make whisper.cpp decode `tokens` whatever the audio.
 *
 * The decoder's output at position p is logits = LN(x_p) . E^T, where E is the
 * token embedding (tied weights) and x_p the residual stream. Every decoder
 * block's output projections (attn.out, cross_attn.out, mlp.2: weights and
 * biases) are zero, so the blocks add nothing, the audio (which reaches the
 * decoder only through cross-attention) has no effect, and x_p = E[input token]
 * + P[p] with P the positional embedding. Each token the model must say gets a
 * zero-mean unit direction u_k = (e_2k - e_2k+1) / sqrt(2) (orthogonal to the
 * others and unchanged by layer norm's mean removal); E[k] = GAIN * u_k for
 * those tokens and 0 for every other token, and P[p] = POSITION_GAIN * GAIN *
 * u_(token wanted after position p). The wanted token's logit is then about
 * GAIN * sqrt(n_state) (32 for 64 channels); every other token's is 0 or close.
 *
 * Outputs by position, for an English-only model (prompt [sot], or [sot, <|notimestamps|>]):
 *   p = 0          <|0.00|>      (with timestamps: the segment's start)
 *   p = 1..n       tokens[0..n-1] (position 1's input is <|0.00|> or <|notimestamps|>: same output)
 *   p = n + 1      <|30.00|> strongly, EOT half as strongly: with timestamps the segment
 *                  ends at the window's end, which also ends decoding for audio up to 30 s;
 *                  without timestamps (they are suppressed) EOT wins
 *   p >= n + 2     EOT
 * So audio up to 30 s gives one segment [0, 30 s] with exactly the text. Longer
 * audio gives the text once per 30 s window when windows are decoded on their
 * own (WhisperEngine's noContext); otherwise the second window's prompt starts
 * with the first window's tokens, which shifts every position, and that window
 * decodes to nothing.
 */
export function fixedTextFiller(tokens: readonly number[]): WhisperModelOptions['fillTensor'] {
  const tsEnd = EN_TOKENS.timestampBegin + 1500;
  const distinct = [...new Set([EN_TOKENS.timestampBegin, ...tokens, tsEnd, EN_TOKENS.eot])];
  const direction = new Map(distinct.map((t, k) => [t, k]));
  const g = FIXED_TEXT_GAIN / Math.SQRT2;
  /** Row of a [n_state, rows] tensor: element i lies in row floor(i / n_state), channel i % n_state. */
  const rowFiller =
    (n: number, row: (r: number, channel: number) => number): TensorFiller =>
    (chunk, first) => {
      for (let i = 0; i < chunk.length; i++) {
        const idx = first + i;
        chunk[i] = row(Math.floor(idx / n), idx % n);
      }
    };
  const along = (token: number, channel: number, gain: number) => {
    const k = direction.get(token)!;
    return channel === 2 * k ? gain : channel === 2 * k + 1 ? -gain : 0;
  };
  return (spec, hp) => {
    const n = hp.n_text_state;
    if (spec.name === 'decoder.token_embedding.weight')
      return rowFiller(n, (token, c) => (direction.has(token) ? along(token, c, g) : 0));
    if (spec.name === 'decoder.positional_embedding') {
      const strong = FIXED_TEXT_POSITION_GAIN * g;
      return rowFiller(n, (p, c) => {
        if (p === 0) return along(EN_TOKENS.timestampBegin, c, strong);
        if (p <= tokens.length) return along(tokens[p - 1]!, c, strong);
        if (p === tokens.length + 1)
          return along(tsEnd, c, strong) + along(EN_TOKENS.eot, c, strong / 2);
        return along(EN_TOKENS.eot, c, strong);
      });
    }
    if (/^decoder\.blocks\.\d+\.(attn\.out|cross_attn\.out|mlp\.2)\.(weight|bias)$/.test(spec.name))
      return (chunk) => chunk.fill(0);
    return undefined;
  };
}

export interface FixedTextModel {
  readonly path: string;
  /** What whisper.cpp prints for the tokens (their bytes, decoded as UTF-8). */
  readonly text: string;
  readonly tokens: readonly number[];
}

/** Longest text: whisper.cpp decodes at most n_text_ctx / 2 - 4 = 220 tokens a window, 2 go to timestamps. */
export const FIXED_TEXT_MAX_TOKENS = 218;

/**
 * Path of a cached model whose decoder says `content` for any audio (see
 * fixedTextFiller): text is spelled with one byte token per UTF-8 byte; token
 * ids (0..50255) are used as given.
 */
export async function ensureFixedTextWhisperModel(
  content: string | { tokens: readonly number[] },
): Promise<FixedTextModel> {
  const tokens = typeof content === 'string' ? textToByteTokens(content) : [...content.tokens];
  if (tokens.length === 0 || tokens.length > FIXED_TEXT_MAX_TOKENS)
    throw new Error(`a fixed text must have 1..${FIXED_TEXT_MAX_TOKENS} tokens`);
  for (const t of tokens) vocabTokenBytes(t); // throws for special or out-of-range ids
  const text = Buffer.concat(tokens.map(vocabTokenBytes)).toString('utf8');
  const options: WhisperModelOptions = {
    shape: 'micro',
    hparams: fixedTextHParams(new Set(tokens).size + 3),
    fillTensor: fixedTextFiller(tokens),
  };
  const key = createHash('sha256')
    .update(JSON.stringify({ tokens, v: GENERATOR_VERSION, f: FIXED_TEXT_VERSION }))
    .digest('hex')
    .slice(0, 12);
  const file = path.join(MODEL_CACHE_DIR, `ggml-fixed-text-${key}.bin`);
  const expected = whisperModelByteSize(options);
  const actual = await fs.promises.stat(file).then(
    (s) => s.size,
    () => -1,
  );
  if (actual !== expected) await writeWhisperModel(file, options);
  return { path: file, text, tokens };
}

/** Bump when fixedTextFiller's weights change. */
const FIXED_TEXT_VERSION = 1;
