/**
 * Checks a Whisper model file before whisper.cpp sees it.
 *
 * Why: smart-whisper's load crashes the whole process when whisper.cpp rejects
 * a file (it calls whisper_print_timings on the null context), and several
 * malformed headers crash whisper.cpp itself (an unknown ftype hits a
 * GGML_ASSERT, more than 100 language tokens build a std::string from null, a
 * huge name length is allocated as asked). A file cut right after its vocab
 * even loads "successfully" as an empty test model. So this module reads the
 * file the way whisper.cpp's whisper_model_load does (header, mel filters,
 * vocab, then every tensor's header and data) and accepts only what that loader
 * accepts and this build can run. It only reads: a few KB of headers, plus the
 * vocab (about 0.5 MB), whatever the model's size.
 *
 * Format (little-endian): u32 magic 0x67676d6c; i32 x 11 hparams (n_vocab,
 * n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx,
 * n_text_state, n_text_head, n_text_layer, n_mels, ftype); i32 n_mel, i32 n_fft,
 * f32[n_mel * n_fft]; i32 n_tokens, then per token u32 length + bytes; then per
 * tensor i32 n_dims, i32 name length, i32 ggml type, i32 ne[n_dims], name, data.
 */
import fs from 'node:fs';
import { StenoError } from '../core/errors';

export type WhisperModelType = 'tiny' | 'base' | 'small' | 'medium' | 'large' | 'custom';

export interface WhisperModelDims {
  readonly nVocab: number;
  readonly nAudioCtx: number;
  readonly nAudioState: number;
  readonly nAudioHead: number;
  readonly nAudioLayer: number;
  readonly nTextCtx: number;
  readonly nTextState: number;
  readonly nTextHead: number;
  readonly nTextLayer: number;
  readonly nMels: number;
}

export interface WhisperModelInfo {
  readonly path: string;
  readonly byteSize: number;
  readonly dims: WhisperModelDims;
  /** The header's ftype with the quantization version removed (1 = f16, 2 = q4_0, ...). */
  readonly ftype: number;
  /** 'f16', 'q5_0', ... */
  readonly ftypeName: string;
  /** The ggml quantization version from the header (ftype / 1000); 0 for f16 models. */
  readonly quantizationVersion: number;
  /** By dimensions, as whisper.cpp names them; 'custom' for anything else (generated test models). */
  readonly type: WhisperModelType;
  /** false for the English-only (".en") models: n_vocab 51864. */
  readonly multilingual: boolean;
  /** e.g. 'tiny.en', 'base', 'large-v3', 'custom'. */
  readonly name: string;
  readonly tensorCount: number;
}

const GGML_FILE_MAGIC = 0x67676d6c;
const GGUF_MAGIC = 0x46554747; // "GGUF" read as u32 LE
const GGML_QNT_VERSION_FACTOR = 1000;
const HPARAMS_BYTES = 11 * 4;
const N_FFT_BINS = 201;
/** English-only vocab; multilingual models add one token per language beyond 99. */
const MIN_VOCAB = 51864;
/**
 * whisper.cpp knows 100 languages (ids 0..99). A vocab implying more makes it
 * build a token name from whisper_lang_str's null and abort, so 51866
 * (large-v3, 100 languages) is the largest n_vocab that loads.
 */
const MAX_LOADABLE_VOCAB = 51866;
/** The brief's plausibility bound, reported before the stricter loadability bound. */
const MAX_PLAUSIBLE_VOCAB = 52000;
/** Longest vocab entry accepted. GPT-2/tiktoken tokens are at most ~128 bytes; whisper.cpp allocates whatever is declared. */
const MAX_TOKEN_BYTES = 1024;
const MAX_TENSOR_NAME_BYTES = 256;
const READ_CHUNK = 1 << 16;

/** ggml type ids (ggml.h enum ggml_type) with their block size and bytes per block. */
interface GgmlTypeInfo {
  readonly id: number;
  readonly name: string;
  readonly blockSize: number;
  readonly blockBytes: number;
}
const T_F32: GgmlTypeInfo = { id: 0, name: 'f32', blockSize: 1, blockBytes: 4 };
const T_F16: GgmlTypeInfo = { id: 1, name: 'f16', blockSize: 1, blockBytes: 2 };

/**
 * File ftype (ggml_ftype) -> the ggml type of the weight matrices. Only the
 * types whisper.cpp's quantize tool produces and this CPU build runs. f32
 * (ftype 0) loads but this whisper.cpp aborts in the first transcription
 * (im2col asserts an f16 convolution kernel), so it is refused with its own
 * message. Any other ftype makes ggml_ftype_to_ggml_type abort the process.
 */
const WEIGHT_TYPES: ReadonlyMap<number, GgmlTypeInfo> = new Map([
  [1, T_F16],
  [2, { id: 2, name: 'q4_0', blockSize: 32, blockBytes: 18 }],
  [3, { id: 3, name: 'q4_1', blockSize: 32, blockBytes: 20 }],
  [7, { id: 8, name: 'q8_0', blockSize: 32, blockBytes: 34 }],
  [8, { id: 6, name: 'q5_0', blockSize: 32, blockBytes: 22 }],
  [9, { id: 7, name: 'q5_1', blockSize: 32, blockBytes: 24 }],
  [10, { id: 10, name: 'q2_k', blockSize: 256, blockBytes: 84 }],
  [11, { id: 11, name: 'q3_k', blockSize: 256, blockBytes: 110 }],
  [12, { id: 12, name: 'q4_k', blockSize: 256, blockBytes: 144 }],
  [13, { id: 13, name: 'q5_k', blockSize: 256, blockBytes: 176 }],
  [14, { id: 14, name: 'q6_k', blockSize: 256, blockBytes: 210 }],
]);

interface ExpectedTensor {
  readonly name: string;
  /** ggml order: ne[0] varies fastest. Its length is the n_dims the converter writes. */
  readonly ne: readonly number[];
  readonly type: GgmlTypeInfo;
}

const ACTION_REDOWNLOAD =
  'Download the model again (or choose another one): this file is not a usable Whisper model.';
const ACTION_INCOMPLETE =
  'Download the model again: the file is incomplete (probably an interrupted download or copy).';

function invalid(file: string, problem: string, action: string, cause?: unknown): StenoError {
  return new StenoError(
    'MODEL_INVALID',
    `The Whisper model ${file} ${problem}.`,
    action,
    cause === undefined ? undefined : { cause },
  );
}

/** The tensors whisper_model_load creates, with the types it expects for this ftype. */
export function expectedWhisperTensors(
  dims: WhisperModelDims,
  weightType: GgmlTypeInfo,
): ExpectedTensor[] {
  // Convolutions are f16 unless the whole model is f32 (whisper.cpp's "vtype").
  const convType = weightType.id === T_F32.id ? T_F32 : T_F16;
  const out: ExpectedTensor[] = [];
  const add = (name: string, ne: number[], type: GgmlTypeInfo) => out.push({ name, ne, type });
  const block = (prefix: string, n: number, cross: boolean) => {
    const attn = (p: string) => {
      add(`${p}.query.weight`, [n, n], weightType);
      add(`${p}.query.bias`, [n], T_F32);
      add(`${p}.key.weight`, [n, n], weightType);
      add(`${p}.value.weight`, [n, n], weightType);
      add(`${p}.value.bias`, [n], T_F32);
      add(`${p}.out.weight`, [n, n], weightType);
      add(`${p}.out.bias`, [n], T_F32);
    };
    add(`${prefix}.mlp_ln.weight`, [n], T_F32);
    add(`${prefix}.mlp_ln.bias`, [n], T_F32);
    add(`${prefix}.mlp.0.weight`, [n, 4 * n], weightType);
    add(`${prefix}.mlp.0.bias`, [4 * n], T_F32);
    add(`${prefix}.mlp.2.weight`, [4 * n, n], weightType);
    add(`${prefix}.mlp.2.bias`, [n], T_F32);
    add(`${prefix}.attn_ln.weight`, [n], T_F32);
    add(`${prefix}.attn_ln.bias`, [n], T_F32);
    attn(`${prefix}.attn`);
    if (cross) {
      add(`${prefix}.cross_attn_ln.weight`, [n], T_F32);
      add(`${prefix}.cross_attn_ln.bias`, [n], T_F32);
      attn(`${prefix}.cross_attn`);
    }
  };
  const a = dims.nAudioState;
  add('encoder.positional_embedding', [a, dims.nAudioCtx], T_F32);
  add('encoder.conv1.weight', [3, dims.nMels, a], convType);
  add('encoder.conv1.bias', [1, a], T_F32);
  add('encoder.conv2.weight', [3, a, a], convType);
  add('encoder.conv2.bias', [1, a], T_F32);
  add('encoder.ln_post.weight', [a], T_F32);
  add('encoder.ln_post.bias', [a], T_F32);
  for (let i = 0; i < dims.nAudioLayer; i++) block(`encoder.blocks.${i}`, a, false);
  const t = dims.nTextState;
  add('decoder.positional_embedding', [t, dims.nTextCtx], T_F32);
  add('decoder.token_embedding.weight', [t, dims.nVocab], weightType);
  add('decoder.ln.weight', [t], T_F32);
  add('decoder.ln.bias', [t], T_F32);
  for (let i = 0; i < dims.nTextLayer; i++) block(`decoder.blocks.${i}`, t, true);
  return out;
}

/** Bytes of a tensor's data as ggml_nbytes computes them (rows of whole blocks). */
function tensorDataBytes(t: ExpectedTensor): number {
  const [ne0 = 1, ...rest] = t.ne;
  const rows = rest.reduce((p, x) => p * x, 1);
  return (ne0 / t.type.blockSize) * t.type.blockBytes * rows;
}

/** Bytes one tensor takes in the file: 3 i32, ne[n_dims] i32, name, data. */
function tensorRecordBytes(t: ExpectedTensor): number {
  return 12 + 4 * t.ne.length + Buffer.byteLength(t.name) + tensorDataBytes(t);
}

function modelType(d: WhisperModelDims): WhisperModelType {
  const known: [WhisperModelType, number, number][] = [
    ['tiny', 4, 384],
    ['base', 6, 512],
    ['small', 12, 768],
    ['medium', 24, 1024],
    ['large', 32, 1280],
  ];
  for (const [name, layers, state] of known)
    if (d.nAudioLayer === layers && d.nTextLayer === layers && d.nAudioState === state) return name;
  return 'custom';
}

/** Sequential reads through a file handle with a small buffer; positions past the end read as short. */
class FileReader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  constructor(
    private readonly fh: fs.promises.FileHandle,
    readonly size: number,
  ) {}

  /** The bytes if already buffered: lets tight loops (50k vocab entries) skip an await per entry. */
  peek(pos: number, n: number): Buffer | undefined {
    if (pos < this.bufStart || pos + n > this.bufStart + this.buf.length) return undefined;
    return this.buf.subarray(pos - this.bufStart, pos - this.bufStart + n);
  }

  /** `n` bytes at `pos`, or null when the file ends first. */
  async bytes(pos: number, n: number): Promise<Buffer | null> {
    if (pos + n > this.size) return null;
    if (pos < this.bufStart || pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, READ_CHUNK), this.size - pos);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await this.fh.read(buf, 0, len, pos);
      this.buf = buf.subarray(0, bytesRead);
      this.bufStart = pos;
      if (bytesRead < n) return null;
    }
    return this.buf.subarray(pos - this.bufStart, pos - this.bufStart + n);
  }
}

const isPowerOfTwo = (x: number) => x > 0 && (x & (x - 1)) === 0;

/**
 * Validates the model at `file` without loading it natively. Resolves to what
 * the header says; rejects with StenoError('MODEL_INVALID') naming the file and
 * the problem when whisper.cpp would refuse it, crash on it, or load a
 * different model than the header promises.
 */
export async function validateWhisperModelFile(file: string): Promise<WhisperModelInfo> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw invalid(
        file,
        'does not exist',
        'Check the path, or download the model again from the model list.',
        e,
      );
    throw invalid(
      file,
      `cannot be read (${code ?? String(e)})`,
      'Check that the file and its folder may be read by you.',
      e,
    );
  }
  if (!stat.isFile())
    throw invalid(
      file,
      `is not a regular file (it is ${stat.isDirectory() ? 'a directory' : 'a device, socket or pipe'})`,
      'Choose the model file itself (a ggml-*.bin file).',
    );
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    throw invalid(
      file,
      `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      'Check that the file and its folder may be read by you.',
      e,
    );
  }
  try {
    return await validateOpen(file, new FileReader(fh, stat.size));
  } finally {
    await fh.close();
  }
}

async function validateOpen(file: string, r: FileReader): Promise<WhisperModelInfo> {
  const size = r.size;
  if (size === 0) throw invalid(file, 'is empty (0 bytes)', ACTION_INCOMPLETE);

  const head = await r.bytes(0, 4);
  if (!head) throw invalid(file, `is too short to be a model (${size} bytes)`, ACTION_INCOMPLETE);
  const magic = head.readUInt32LE(0);
  if (magic === GGUF_MAGIC)
    throw invalid(
      file,
      'is a GGUF file, not a whisper.cpp (ggml) model',
      'Choose a whisper.cpp model (ggml-*.bin from the whisper.cpp model list).',
    );
  if (magic !== GGML_FILE_MAGIC)
    throw invalid(
      file,
      `is not a whisper.cpp model (it starts with 0x${magic.toString(16).padStart(8, '0')}, not the ggml magic 0x67676d6c)`,
      ACTION_REDOWNLOAD,
    );

  const hp = await r.bytes(4, HPARAMS_BYTES);
  if (!hp) throw invalid(file, `ends inside its header (${size} bytes)`, ACTION_INCOMPLETE);
  const i32 = (i: number) => hp.readInt32LE(4 * i);
  const dims: WhisperModelDims = {
    nVocab: i32(0),
    nAudioCtx: i32(1),
    nAudioState: i32(2),
    nAudioHead: i32(3),
    nAudioLayer: i32(4),
    nTextCtx: i32(5),
    nTextState: i32(6),
    nTextHead: i32(7),
    nTextLayer: i32(8),
    nMels: i32(9),
  };
  const rawFtype = i32(10);
  checkDims(file, dims);

  if (rawFtype < 0)
    throw invalid(file, `declares an unknown weight type (ftype ${rawFtype})`, ACTION_REDOWNLOAD);
  const ftype = rawFtype % GGML_QNT_VERSION_FACTOR;
  const quantizationVersion = Math.floor(rawFtype / GGML_QNT_VERSION_FACTOR);
  if (ftype === 0)
    throw invalid(
      file,
      'stores its weights as 32-bit floats, which this Whisper build cannot run',
      'Use an f16 or quantized model (for example ggml-base.en.bin or ggml-base.en-q5_1.bin).',
    );
  const weightType = WEIGHT_TYPES.get(ftype);
  if (!weightType)
    throw invalid(file, `declares an unknown weight type (ftype ${rawFtype})`, ACTION_REDOWNLOAD);
  if (weightType.blockSize > 1 && dims.nAudioState % weightType.blockSize !== 0)
    throw invalid(
      file,
      `declares ${weightType.name} weights, which cannot hold its ${dims.nAudioState}-wide rows`,
      ACTION_REDOWNLOAD,
    );

  // Mel filters: whisper's 80 or 128 filters over the 201 bins of a 400-point FFT.
  let pos = 4 + HPARAMS_BYTES;
  const mel = await r.bytes(pos, 8);
  if (!mel) throw invalid(file, `ends before its mel filters (${size} bytes)`, ACTION_INCOMPLETE);
  const nMel = mel.readInt32LE(0);
  const nFft = mel.readInt32LE(4);
  if (nMel !== dims.nMels || nFft !== N_FFT_BINS)
    throw invalid(
      file,
      `has a damaged mel filter block (${nMel} x ${nFft}; expected ${dims.nMels} x ${N_FFT_BINS})`,
      ACTION_REDOWNLOAD,
    );
  pos += 8 + nMel * nFft * 4;

  // Vocab: walk the length-prefixed tokens to find where the tensors start.
  const countBuf = await r.bytes(pos, 4);
  if (!countBuf)
    throw invalid(file, `ends before its vocabulary (${size} bytes)`, ACTION_INCOMPLETE);
  const nTokens = countBuf.readInt32LE(0);
  if (nTokens <= 0 || nTokens > dims.nVocab)
    throw invalid(
      file,
      `has a damaged vocabulary (${nTokens} tokens for n_vocab ${dims.nVocab})`,
      ACTION_REDOWNLOAD,
    );
  pos += 4;
  for (let i = 0; i < nTokens; i++) {
    const lenBuf = r.peek(pos, 4) ?? (await r.bytes(pos, 4));
    if (!lenBuf)
      throw invalid(
        file,
        `ends inside its vocabulary (token ${i} of ${nTokens}, at byte ${pos} of ${size})`,
        ACTION_INCOMPLETE,
      );
    const len = lenBuf.readUInt32LE(0);
    if (len > MAX_TOKEN_BYTES)
      throw invalid(
        file,
        `has a damaged vocabulary (token ${i} claims ${len} bytes)`,
        ACTION_REDOWNLOAD,
      );
    pos += 4 + len;
  }
  if (pos > size)
    throw invalid(file, `ends inside its vocabulary (${size} bytes)`, ACTION_INCOMPLETE);

  // The size the header implies: every tensor whisper_model_load will ask for.
  const expected = expectedWhisperTensors(dims, weightType);
  const expectedSize = expected.reduce((s, t) => s + tensorRecordBytes(t), pos);
  if (size < expectedSize)
    throw invalid(
      file,
      `is incomplete: it has ${size} bytes, but its header describes a model of ${expectedSize} bytes`,
      ACTION_INCOMPLETE,
    );

  // Walk the tensor directory as the loader does, so names, shapes and types are checked too.
  const byName = new Map(expected.map((t) => [t.name, t]));
  const seen = new Set<string>();
  while (pos < size) {
    const th = await r.bytes(pos, 12);
    if (!th)
      throw invalid(
        file,
        `has ${size - pos} bytes of unexpected data after its last tensor`,
        ACTION_REDOWNLOAD,
      );
    const nDims = th.readInt32LE(0);
    const nameLen = th.readInt32LE(4);
    const ttype = th.readInt32LE(8);
    if (nDims < 1 || nDims > 4 || nameLen < 1 || nameLen > MAX_TENSOR_NAME_BYTES)
      throw invalid(
        file,
        seen.size === expected.length
          ? `has ${size - pos} bytes of unexpected data after its last tensor`
          : `has a damaged tensor header at byte ${pos}`,
        ACTION_REDOWNLOAD,
      );
    const rest = await r.bytes(pos + 12, 4 * nDims + nameLen);
    if (!rest) throw invalid(file, `ends inside a tensor header at byte ${pos}`, ACTION_INCOMPLETE);
    const ne = Array.from({ length: nDims }, (_, i) => rest.readInt32LE(4 * i));
    const name = rest.toString('latin1', 4 * nDims);
    const spec = byName.get(name);
    if (!spec)
      throw invalid(
        file,
        `holds a tensor whisper.cpp does not know ("${printable(name)}" at byte ${pos})`,
        ACTION_REDOWNLOAD,
      );
    if (seen.has(name)) throw invalid(file, `holds tensor ${name} twice`, ACTION_REDOWNLOAD);
    const full = [0, 1, 2].map((i) => ne[i] ?? 1);
    const want = [0, 1, 2].map((i) => spec.ne[i] ?? 1);
    if (full.some((x, i) => x !== want[i]) || (ne[3] ?? 1) !== 1)
      throw invalid(
        file,
        `has tensor ${name} with shape [${ne.join(', ')}] where its header implies [${spec.ne.join(', ')}]`,
        ACTION_REDOWNLOAD,
      );
    if (ttype !== spec.type.id)
      throw invalid(
        file,
        `has tensor ${name} stored as ggml type ${ttype}, not ${spec.type.name} as its header implies`,
        ACTION_REDOWNLOAD,
      );
    seen.add(name);
    pos += 12 + 4 * nDims + nameLen + tensorDataBytes(spec);
    if (pos > size)
      throw invalid(
        file,
        `is incomplete: it ends inside tensor ${name} (${size} of ${pos} bytes)`,
        ACTION_INCOMPLETE,
      );
  }
  const missing = expected.filter((t) => !seen.has(t.name));
  if (missing.length)
    throw invalid(
      file,
      `is missing ${missing.length} tensor(s), the first ${missing[0]!.name}`,
      ACTION_REDOWNLOAD,
    );

  const type = modelType(dims);
  const multilingual = dims.nVocab > MIN_VOCAB;
  const name =
    type === 'custom'
      ? 'custom'
      : type === 'large'
        ? dims.nVocab === MAX_LOADABLE_VOCAB
          ? 'large-v3'
          : 'large'
        : multilingual
          ? type
          : `${type}.en`;
  return {
    path: file,
    byteSize: size,
    dims,
    ftype,
    ftypeName: weightType.name,
    quantizationVersion,
    type,
    multilingual,
    name,
    tensorCount: seen.size,
  };
}

function checkDims(file: string, d: WhisperModelDims): void {
  const bad = (what: string) =>
    invalid(file, `has an implausible header (${what})`, ACTION_REDOWNLOAD);
  if (d.nVocab < MIN_VOCAB || d.nVocab > MAX_PLAUSIBLE_VOCAB)
    throw bad(`n_vocab ${d.nVocab}, expected ${MIN_VOCAB}..${MAX_PLAUSIBLE_VOCAB}`);
  if (d.nVocab > MAX_LOADABLE_VOCAB)
    throw bad(
      `n_vocab ${d.nVocab} implies ${d.nVocab - 51765 - 1} languages; whisper.cpp knows 100`,
    );
  // whisper.cpp always encodes 30 s windows: 3000 mel frames -> 1500 positions after conv2's stride 2.
  if (d.nAudioCtx !== 1500) throw bad(`n_audio_ctx ${d.nAudioCtx}, expected 1500`);
  if (d.nTextCtx !== 448) throw bad(`n_text_ctx ${d.nTextCtx}, expected 448`);
  if (d.nMels !== 80 && d.nMels !== 128) throw bad(`n_mels ${d.nMels}, expected 80 or 128`);
  for (const [label, layers] of [
    ['n_audio_layer', d.nAudioLayer],
    ['n_text_layer', d.nTextLayer],
  ] as const)
    if (!(layers >= 1 && layers <= 64)) throw bad(`${label} ${layers}, expected 1..64`);
  // The loader asserts equal widths (an abort in this build, which keeps asserts).
  if (d.nAudioState !== d.nTextState)
    throw bad(`n_audio_state ${d.nAudioState} differs from n_text_state ${d.nTextState}`);
  for (const [label, state, heads] of [
    ['audio', d.nAudioState, d.nAudioHead],
    ['text', d.nTextState, d.nTextHead],
  ] as const) {
    // Real widths are 384..1280 (multiples of 64, not powers of two); generated test models go down to 4.
    if (!(state >= 1 && state <= 8192)) throw bad(`n_${label}_state ${state}, expected 1..8192`);
    if (!(heads >= 1 && heads <= 64 && state % heads === 0))
      throw bad(`n_${label}_head ${heads} does not divide n_${label}_state ${state}`);
    // Head widths are 64 in every released model; anything else must at least be a power of two.
    if (!isPowerOfTwo(state / heads))
      throw bad(
        `head width ${state / heads} (n_${label}_state / n_${label}_head) is not a power of two`,
      );
  }
}

function printable(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 60 ? `${clean.slice(0, 60)}...` : clean;
}
