/**
 * The pipeline on an utterance of two voices that answer each other without a
 * pause long enough to end it: the real Silero VAD and the generated speaker
 * model, and a Whisper stand-in that says known words at known times (the
 * generated Whisper models' token times say nothing about the audio).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostPartial, HostSegment } from '../core/host-protocol';
import { speakAt16k } from '../testing/espeak-speech';
import { ensureSpeakerEmbeddingModel } from '../testing/speaker-model';
import { makeTempDir, removeTempDir } from '../testing/tmp';
import { SileroVad } from './silero-vad';
import { SpeakerEmbedder } from './speaker-embedder';
import { TranscriptionPipeline, type TranscriberLike } from './transcription-pipeline';

const RATE = 16_000;
const TEST_CHANGE_THRESHOLD = 0.45;

let dir: string;
let vad: SileroVad;
let embedder: SpeakerEmbedder;

beforeAll(async () => {
  dir = makeTempDir('steno-pipeline-');
  vad = await SileroVad.create();
  embedder = await SpeakerEmbedder.create(await ensureSpeakerEmbeddingModel());
});

afterAll(() => {
  vad?.dispose();
  embedder?.dispose();
  removeTempDir(dir);
});

/** espeak-ng's `text` in `voice` at 16 kHz, its own leading and trailing silence cut by sox. */
function speak(voice: string, pitch: number, text: string): Float32Array {
  return speakAt16k(dir, voice.replace(/\W/g, '_'), text, {
    voice,
    pitch,
    soxEffects: [
      'silence',
      '1',
      '0.02',
      '0.5%',
      'reverse',
      'silence',
      '1',
      '0.02',
      '0.5%',
      'reverse',
    ],
  });
}

/** Says `words` spread evenly over the audio it is given, one token per word. */
function wordsOverTheAudio(words: readonly string[]): TranscriberLike {
  return {
    transcribe: (samples, opts) => {
      const startMs = opts.offsetMs ?? 0;
      const spanMs = (samples.length / RATE) * 1000;
      const tokens = words.map((w, i) => ({
        text: ` ${w}`,
        startMs: startMs + (spanMs * i) / words.length,
        endMs: startMs + (spanMs * (i + 1)) / words.length,
      }));
      return Promise.resolve([{ text: tokens.map((t) => t.text).join(''), tokens }]);
    },
  };
}

async function run(audio: Float32Array, whisper: TranscriberLike): Promise<HostSegment[]> {
  const segments: HostSegment[] = [];
  vad.reset();
  const pipeline = new TranscriptionPipeline(
    vad,
    whisper,
    embedder,
    {
      language: 'en',
      maxTokens: 32,
      partials: false,
      embeddingWindowS: 1.5,
      // These two voices are far apart for the generated model (about 0.3
      // between whole turns, 0.8 within one): a threshold between them tests
      // the cutting and the division of the words, not the default's rate of
      // false changes (about one adjacent pair in twenty, by its choice).
      speakerChangeThreshold: TEST_CHANGE_THRESHOLD,
    },
    { segment: (s) => segments.push(s), partial: (_p: HostPartial) => {} },
  );
  try {
    for (let at = 0; at < audio.length; at += RATE) {
      await pipeline.accept(at, audio.slice(at, Math.min(audio.length, at + RATE)));
    }
    await pipeline.flush(audio.length);
  } finally {
    pipeline.dispose();
  }
  return segments;
}

/** Lead-in, the two turns `gapS` apart, tail; faint noise throughout. */
function meeting(first: Float32Array, second: Float32Array, gapS: number) {
  const lead = RATE / 2;
  const gap = Math.round(gapS * RATE);
  const audio = new Float32Array(lead + first.length + gap + second.length + RATE / 2);
  let seed = 3;
  for (let i = 0; i < audio.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    audio[i] = (seed / 2 ** 31 - 0.5) * 0.002;
  }
  const secondAt = lead + first.length + gap;
  first.forEach((v, i) => (audio[lead + i] = audio[lead + i]! + v));
  second.forEach((v, i) => (audio[secondAt + i] = audio[secondAt + i]! + v));
  return { audio, firstEnd: lead + first.length, secondStart: secondAt };
}

describe('TranscriptionPipeline with speaker changes', () => {
  it('cuts an utterance where the voice changes, and gives each turn the words spoken in it', async () => {
    const first = speak(
      'en-us+f2',
      70,
      'Good morning everyone, thanks for joining the planning call.',
    );
    const second = speak('en+m7', 30, 'Morning. I have the numbers from last week ready for you.');
    // 0.15 s between the turns: far below the 0.5 s pause that ends an utterance.
    const m = meeting(first, second, 0.15);
    const words = 'one two three four five six seven eight nine ten eleven twelve'.split(' ');
    const segments = await run(m.audio, wordsOverTheAudio(words));

    expect(segments).toHaveLength(2);
    const [a, b] = segments as [HostSegment, HostSegment];
    expect(a.turns).toBe(2);
    // The cut lies in the pause (within one 32 ms VAD frame of it) or within 0.5 s of it.
    expect(Math.abs(a.endSample - m.firstEnd)).toBeLessThan(RATE / 2);
    expect(Math.abs(b.startSample - m.secondStart)).toBeLessThan(RATE / 2);
    expect(b.startSample).toBeGreaterThanOrEqual(a.endSample);
    // Every word once, in order, none split, each in the turn that holds its time.
    expect(`${a.text} ${b.text}`).toBe(words.join(' '));
    const spanMs = ((b.endSample - a.startSample) / RATE) * 1000;
    const cutMs = ((a.endSample - a.startSample) / RATE) * 1000;
    const expectedFirst = words.filter((_, i) => ((i + 0.5) * spanMs) / words.length < cutMs);
    expect(Math.abs(a.text.split(' ').length - expectedFirst.length)).toBeLessThanOrEqual(1);
    // Each turn keeps embeddings of its own audio.
    expect(a.embeddings.length).toBeGreaterThan(0);
    expect(b.embeddings.length).toBeGreaterThan(0);
  }, 120_000);

  it('leaves one voice speaking for several seconds in one segment', async () => {
    const first = speak(
      'en-us+f2',
      70,
      'Good morning everyone, thanks for joining the planning call.',
    );
    const second = speak('en-us+f2', 70, 'Before we start, can we check the release date again?');
    const m = meeting(first, second, 0.15);
    const segments = await run(m.audio, wordsOverTheAudio(['hello', 'there']));
    expect(segments).toHaveLength(1);
    expect(segments[0]!.turns).toBe(1);
    expect(segments[0]!.text).toBe('hello there');
  }, 120_000);
});
