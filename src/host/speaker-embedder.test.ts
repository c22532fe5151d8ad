import fs from 'node:fs';
import path from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StenoError } from '../core/errors';
import {
  SPEAKER_MODEL_INPUT,
  SPEAKER_MODEL_OUTPUT,
  buildIdentityModel,
  buildSpeakerEmbeddingModel,
  ensureSpeakerEmbeddingModel,
} from '../testing/speaker-model';
import { makeTempDir, removeTempDir } from '../testing/tmp';
import { MIN_EMBEDDING_FRAMES, SpeakerEmbedder } from './speaker-embedder';

let dir: string;
let modelPath: string;

beforeAll(async () => {
  dir = makeTempDir('steno-speaker-embedder-');
  modelPath = await ensureSpeakerEmbeddingModel();
});

afterAll(() => removeTempDir(dir));

/** Deterministic pseudo-features, roughly the range of CMN'd log-mel values. */
function features(frames: number, seed = 1, dims = 80) {
  const data = new Float32Array(frames * dims);
  for (let i = 0; i < data.length; i++) {
    data[i] = Math.sin(i * 0.173 * seed + seed) * 3 + Math.sin(Math.floor(i / dims) * 0.05 * seed);
  }
  return { frames, dims, data };
}

async function expectModelInvalid(file: string, problem: RegExp): Promise<StenoError> {
  const error = await SpeakerEmbedder.create(file).then(
    (e) => {
      e.dispose();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StenoError);
  const steno = error as StenoError;
  expect(steno.code).toBe('MODEL_INVALID');
  expect(steno.message).toContain(`The speaker-embedding model ${file} `);
  expect(steno.message).toMatch(problem);
  expect(steno.action.length).toBeGreaterThan(0);
  return steno;
}

describe('SpeakerEmbedder.create rejects files that are not a usable model', () => {
  it('a missing file', async () => {
    await expectModelInvalid(path.join(dir, 'nope.onnx'), /does not exist/);
  });

  it('an empty file', async () => {
    const file = path.join(dir, 'empty.onnx');
    fs.writeFileSync(file, '');
    await expectModelInvalid(file, /is empty/);
  });

  it('a folder', async () => {
    await expectModelInvalid(dir, /is a folder/);
  });

  it('garbage bytes (onnxruntime cannot parse them)', async () => {
    const file = path.join(dir, 'garbage.onnx');
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    fs.writeFileSync(file, bytes);
    await expectModelInvalid(file, /is not an ONNX model onnxruntime can load/);
  });

  it('a truncated model', async () => {
    const file = path.join(dir, 'truncated.onnx');
    const bytes = buildSpeakerEmbeddingModel();
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectModelInvalid(file, /is not an ONNX model onnxruntime can load/);
  });

  it('a model taking 40-dim features, [B, T, 40]', async () => {
    const file = path.join(dir, 'forty.onnx');
    fs.writeFileSync(file, buildSpeakerEmbeddingModel({ featureDim: 40 }));
    await expectModelInvalid(file, /takes 40-dim features .*\[B, T, 40\].*80-dim/);
  });

  it('a model with a rank-2 input, [T, 80]', async () => {
    const file = path.join(dir, 'rank2.onnx');
    fs.writeFileSync(file, buildIdentityModel(['T', 80]));
    await expectModelInvalid(file, /input x of shape \[T, 80\]/);
  });

  it('a model whose output is not [B, D]', async () => {
    const file = path.join(dir, 'rank3-out.onnx');
    fs.writeFileSync(file, buildIdentityModel(['B', 'T', 80]));
    await expectModelInvalid(file, /output y of shape \[B, T, 80\]/);
  });

  it('the process survives all of that: a valid model still loads and runs', async () => {
    const embedder = await SpeakerEmbedder.create(modelPath);
    try {
      const e = await embedder.embed(features(120));
      expect(e.length).toBe(256);
    } finally {
      embedder.dispose();
    }
  });
});

describe('the generated speaker-embedding model', () => {
  it("has WeSpeaker's signature: feats [B, T, 80] -> embs [B, 256]", async () => {
    const session = await InferenceSession.create(modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    try {
      const input = session.inputMetadata[0];
      const output = session.outputMetadata[0];
      expect(session.inputNames).toEqual([SPEAKER_MODEL_INPUT]);
      expect(session.outputNames).toEqual([SPEAKER_MODEL_OUTPUT]);
      expect(input?.isTensor && input.type).toBe('float32');
      expect(input?.isTensor && input.shape).toEqual(['B', 'T', 80]);
      expect(output?.isTensor && output.shape).toEqual(['B', 256]);
    } finally {
      await session.release();
    }
  });

  it('is regenerated when the cached file is damaged, via a rename (no temporary file left)', async () => {
    fs.writeFileSync(modelPath, 'damaged');
    expect(await ensureSpeakerEmbeddingModel()).toBe(modelPath);
    expect(Buffer.compare(fs.readFileSync(modelPath), buildSpeakerEmbeddingModel())).toBe(0);
    const leftovers = fs.readdirSync(path.dirname(modelPath)).filter((f) => f.includes('.tmp-'));
    expect(leftovers).toEqual([]);
  });

  it('is deterministic', () => {
    expect(Buffer.compare(buildSpeakerEmbeddingModel(), buildSpeakerEmbeddingModel())).toBe(0);
  });
});

describe('SpeakerEmbedder.embed', () => {
  let embedder: SpeakerEmbedder;
  // Created per test: the leak tracker checks each test's disposables.
  const withEmbedder = async (fn: () => Promise<void>) => {
    embedder = await SpeakerEmbedder.create(modelPath);
    try {
      await fn();
    } finally {
      embedder.dispose();
    }
  };

  it('returns unit-length vectors of the model dimension', () =>
    withEmbedder(async () => {
      expect(embedder.dimension).toBe(256);
      const e = await embedder.embed(features(300));
      expect(e.length).toBe(256);
      expect(Math.hypot(...e)).toBeCloseTo(1, 5);
      // Same input, same output; different input, different output.
      expect(await embedder.embed(features(300))).toEqual(e);
      expect(await embedder.embed(features(300, 2))).not.toEqual(e);
    }));

  it(`repeats inputs shorter than ${MIN_EMBEDDING_FRAMES} frames up to that length`, () =>
    withEmbedder(async () => {
      const short = features(7);
      const repeated = new Float32Array(MIN_EMBEDDING_FRAMES * 80);
      for (let f = 0; f < MIN_EMBEDDING_FRAMES; f++) {
        repeated.set(short.data.subarray((f % 7) * 80, (f % 7) * 80 + 80), f * 80);
      }
      const a = await embedder.embed(short);
      const b = await embedder.embed({ frames: MIN_EMBEDDING_FRAMES, dims: 80, data: repeated });
      expect(Array.from(a)).toEqual(Array.from(b));
      // A single frame works too (it has no variance: the model answers with zeros).
      const one = await embedder.embed(features(1));
      expect(one.every(Number.isFinite)).toBe(true);
    }));

  it('reads features from a view into a larger buffer correctly', () =>
    withEmbedder(async () => {
      const whole = features(400);
      const view = { frames: 200, dims: 80, data: whole.data.subarray(100 * 80, 300 * 80) };
      const copy = { frames: 200, dims: 80, data: Float32Array.from(view.data) };
      expect(await embedder.embed(view)).toEqual(await embedder.embed(copy));
    }));

  it('runs queued calls one at a time, in order', () =>
    withEmbedder(async () => {
      const inputs = [1, 2, 3, 4].map((s) => features(200, s));
      const together = await Promise.all(inputs.map((f) => embedder.embed(f)));
      for (const [i, f] of inputs.entries()) expect(await embedder.embed(f)).toEqual(together[i]);
    }));

  it('rejects features of the wrong dimension or no frames', () =>
    withEmbedder(async () => {
      await expect(embedder.embed(features(100, 1, 40))).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(
        embedder.embed({ frames: 0, dims: 80, data: new Float32Array(0) }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }));

  it('refuses to run after dispose', async () => {
    const e = await SpeakerEmbedder.create(modelPath);
    e.dispose();
    await expect(e.embed(features(100))).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });
});
