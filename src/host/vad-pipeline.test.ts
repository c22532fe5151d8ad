/**
 * The real Silero v5 model with the utterance segmenter on synthetic speech,
 * and the model loader's answers to files that are not the model.
 *
 * One session for the whole file: onnxruntime leaks when sessions are created
 * and released repeatedly (issue 25325), so tests share it and reset it.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StenoError } from '../core/errors';
import { UtteranceSegmenter, type UtteranceEvent } from '../core/utterance-segmenter';
import { speakAt16k } from '../testing/espeak-speech';
import { makeTempDir, removeTempDir } from '../testing/tmp';
import { SILERO_FRAME_SAMPLES, SileroVad, defaultSileroVadModelPath } from './silero-vad';

const RATE = 16_000;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = path.join(ROOT, '.cache', 'vad-pipeline');

/** espeak-ng's speech for `text` at 16 kHz mono float, cut to where its energy begins and ends. */
function speak(name: string, text: string): Float32Array {
  return trimToSpeech(speakAt16k(FIXTURES, name, text, { voice: 'en-us+f3' }));
}

/**
 * The true speech bounds, measured: 10 ms windows whose RMS is above 1% of the
 * loudest window (-40 dB). espeak pads its output with silence of its own.
 */
function trimToSpeech(samples: Float32Array): Float32Array {
  const window = RATE / 100;
  const rms: number[] = [];
  for (let i = 0; i + window <= samples.length; i += window) {
    let sum = 0;
    for (let j = i; j < i + window; j++) sum += (samples[j] ?? 0) ** 2;
    rms.push(Math.sqrt(sum / window));
  }
  const threshold = Math.max(...rms) * 0.01;
  const first = rms.findIndex((r) => r > threshold);
  const last = rms.findLastIndex((r) => r > threshold);
  return samples.slice(first * window, (last + 1) * window);
}

interface Fixture {
  readonly audio: Float32Array;
  /** [start, end) of each sentence, in samples. */
  readonly speech: ReadonlyArray<readonly [number, number]>;
}

/** 1 s silence, sentence, 1.5 s silence, sentence, 1 s silence, under faint noise. */
function buildFixture(): Fixture {
  fs.mkdirSync(FIXTURES, { recursive: true });
  const first = speak('first', 'The quarterly budget review starts on Monday morning.');
  const second = speak('second', 'Please send the final numbers to the whole team before noon.');
  const lead = 1.0 * RATE;
  const gap = 1.5 * RATE;
  const tail = 1.0 * RATE;
  const audio = new Float32Array(lead + first.length + gap + second.length + tail);
  // Deterministic noise at about -60 dBFS, so silence is not digital zero.
  let seed = 1;
  for (let i = 0; i < audio.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    audio[i] = (seed / 2 ** 31 - 0.5) * 0.002;
  }
  const mix = (part: Float32Array, at: number): void => {
    for (let i = 0; i < part.length; i++) audio[at + i] = (audio[at + i] ?? 0) + (part[i] ?? 0);
  };
  const secondAt = lead + first.length + gap;
  mix(first, lead);
  mix(second, secondAt);
  return {
    audio,
    speech: [
      [lead, lead + first.length],
      [secondAt, secondAt + second.length],
    ],
  };
}

let vad: SileroVad;

beforeAll(async () => {
  vad = await SileroVad.create();
});

afterAll(() => {
  vad?.dispose();
});

describe('Silero VAD v5 with the utterance segmenter', () => {
  it('finds exactly the two sentences, within 0.2 s of their true bounds', async () => {
    const { audio, speech } = buildFixture();
    const segmenter = new UtteranceSegmenter();
    const ends: Extract<UtteranceEvent, { type: 'end' }>[] = [];
    const subscription = segmenter.onDidChangeUtterance((e) => {
      if (e.type === 'end') ends.push(e);
    });
    try {
      vad.reset();
      const frame = new Float32Array(SILERO_FRAME_SAMPLES);
      const probabilities: number[] = [];
      const began = performance.now();
      let at = 0;
      for (; at + SILERO_FRAME_SAMPLES <= audio.length; at += SILERO_FRAME_SAMPLES) {
        frame.set(audio.subarray(at, at + SILERO_FRAME_SAMPLES));
        const p = await vad.process(frame);
        probabilities.push(p);
        segmenter.push(p, at, SILERO_FRAME_SAMPLES);
      }
      segmenter.flush(audio.length);
      const elapsedMs = performance.now() - began;
      const seconds = audio.length / RATE;
      const speed = seconds / (elapsedMs / 1000);
      console.log(
        `VAD+segmenter: ${seconds.toFixed(2)} s of audio in ${elapsedMs.toFixed(0)} ms ` +
          `(${(elapsedMs / probabilities.length).toFixed(3)} ms per 32 ms frame, ${speed.toFixed(0)}x real time)`,
      );
      console.log(
        'probabilities x10:',
        probabilities.map((p) => Math.min(9, Math.floor(p * 10))).join(''),
      );
      const s = (n: number): string => (n / RATE).toFixed(3);
      console.log('true speech:', speech.map(([a, b]) => `${s(a)}-${s(b)}`).join(', '));
      console.log(
        'utterances: ',
        ends.map((e) => `${s(e.startSample)}-${s(e.endSample)}`).join(', '),
      );

      expect(ends).toHaveLength(2);
      const tolerance = 0.2 * RATE;
      ends.forEach((e, i) => {
        const [start, end] = speech[i] ?? [Number.NaN, Number.NaN];
        expect(Math.abs(e.startSample - start)).toBeLessThanOrEqual(tolerance);
        expect(Math.abs(e.endSample - end)).toBeLessThanOrEqual(tolerance);
        // With 100 ms of padding, nothing of the sentence is clipped.
        expect(e.startSample).toBeLessThanOrEqual(start);
        expect(e.endSample).toBeGreaterThanOrEqual(end);
      });
      // Far faster than real time even on a shared two-core machine.
      expect(speed).toBeGreaterThan(5);
    } finally {
      subscription.dispose();
      segmenter.dispose();
    }
  });

  it('gives the same probabilities after reset as from a fresh start', async () => {
    const frame = new Float32Array(SILERO_FRAME_SAMPLES);
    for (let i = 0; i < frame.length; i++) frame[i] = Math.sin(i / 7) * 0.3;
    vad.reset();
    const fresh = [await vad.process(frame), await vad.process(frame)];
    vad.reset();
    const again = [await vad.process(frame), await vad.process(frame)];
    expect(again).toEqual(fresh);
    // The state carries: the same frame does not give the same answer twice in a row.
    expect(fresh[1]).not.toBe(fresh[0]);
  });

  it('rejects a wrong frame size and overlapping calls', async () => {
    vad.reset();
    await expect(vad.process(new Float32Array(100))).rejects.toThrow(RangeError);
    const frame = new Float32Array(SILERO_FRAME_SAMPLES);
    const first = vad.process(frame);
    await expect(vad.process(frame)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await expect(first).resolves.toBeGreaterThanOrEqual(0);
  });

  it('refuses frames after dispose, and dispose waits for a run in flight', async () => {
    const own = await SileroVad.create();
    const running = own.process(new Float32Array(SILERO_FRAME_SAMPLES));
    own.dispose();
    await expect(running).resolves.toBeGreaterThanOrEqual(0);
    await expect(own.process(new Float32Array(SILERO_FRAME_SAMPLES))).rejects.toMatchObject({
      code: 'INVALID_STATE',
    });
  });
});

/** A tiny ONNX model with Silero v5's input names, authored with onnx-proto. */
function authorModel(options: { stateWidth: number; probability: number }): Uint8Array {
  const { onnx } = createRequire(import.meta.url)('onnx-proto') as typeof import('onnx-proto');
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const tensor = (
    name: string,
    elemType: number,
    dims: (number | string)[],
  ): import('onnx-proto').onnx.IValueInfoProto => ({
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'steno-test',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'not-silero',
      node: [
        {
          opType: 'Constant',
          output: ['output'],
          attribute: [
            {
              name: 'value',
              type: onnx.AttributeProto.AttributeType.TENSOR,
              t: { dims: [1, 1], dataType: FLOAT, floatData: [options.probability] },
            },
          ],
        },
        { opType: 'Identity', input: ['state'], output: ['stateN'] },
      ],
      input: [
        tensor('input', FLOAT, ['batch', 'samples']),
        tensor('state', FLOAT, [2, 'batch', options.stateWidth]),
        tensor('sr', INT64, []),
      ],
      output: [
        tensor('output', FLOAT, [1, 1]),
        tensor('stateN', FLOAT, [2, 'batch', options.stateWidth]),
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

describe('SileroVad.create with files that are not the model', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeTempDir('steno-vad-');
  });
  afterAll(() => {
    removeTempDir(dir);
  });

  async function expectInvalid(modelPath: string, problem: RegExp): Promise<StenoError> {
    const error = await SileroVad.create(modelPath).then(
      (unexpected) => {
        unexpected.dispose();
        throw new Error(`${modelPath} loaded as a Silero model`);
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StenoError);
    const stenoError = error as StenoError;
    expect(stenoError.code).toBe('MODEL_INVALID');
    expect(stenoError.message).toContain(`The voice-activity model ${modelPath} `);
    expect(stenoError.message).toMatch(problem);
    expect(stenoError.action.length).toBeGreaterThan(10);
    return stenoError;
  }

  it('a missing file', async () => {
    await expectInvalid(path.join(dir, 'missing.onnx'), /does not exist/);
  });

  it('a folder', async () => {
    await expectInvalid(dir, /is a folder/);
  });

  it('an empty file', async () => {
    const file = path.join(dir, 'empty.onnx');
    fs.writeFileSync(file, '');
    await expectInvalid(file, /is empty/);
  });

  it('garbage bytes', async () => {
    const file = path.join(dir, 'garbage.onnx');
    const bytes = Buffer.alloc(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
    fs.writeFileSync(file, bytes);
    const e = await expectInvalid(file, /is not an ONNX model onnxruntime can load \(.+\)/);
    console.log('garbage ->', e.toUserString());
  });

  it('a truncated copy of the real model', async () => {
    const file = path.join(dir, 'truncated.onnx');
    fs.writeFileSync(file, fs.readFileSync(defaultSileroVadModelPath()).subarray(0, 100_000));
    await expectInvalid(file, /is not an ONNX model onnxruntime can load/);
  });

  it('the older Silero model, whose inputs are h and c instead of state', async () => {
    const legacy = path.join(path.dirname(defaultSileroVadModelPath()), 'silero_vad_legacy.onnx');
    const e = await expectInvalid(
      legacy,
      /is not a Silero VAD v5 model: its inputs and outputs are \[input, sr, h, c\]/,
    );
    console.log('legacy ->', e.toUserString());
  });

  it('an ONNX model with the right names but a state of the wrong shape', async () => {
    const file = path.join(dir, 'narrow-state.onnx');
    fs.writeFileSync(file, authorModel({ stateWidth: 64, probability: 0.5 }));
    await expectInvalid(file, /its state has shape \[2, batch, 64\], expected \[2, batch, 128\]/);
  });

  it('an ONNX model with the right interface that does not return a probability', async () => {
    const file = path.join(dir, 'not-a-probability.onnx');
    fs.writeFileSync(file, authorModel({ stateWidth: 128, probability: 7 }));
    await expectInvalid(file, /returned 7 for silence instead of a probability/);
  });

  it('leaves this process able to run the real model', async () => {
    vad.reset();
    const p = await vad.process(new Float32Array(SILERO_FRAME_SAMPLES));
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(0.5);
  });
});
