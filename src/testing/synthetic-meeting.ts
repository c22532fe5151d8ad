/**
 * A synthetic meeting for speaker-labelling tests: several espeak-ng voices take
 * turns, separated by silence, with the exact turn boundaries known.
 *
 * How it is made (deterministic: espeak-ng and sox are deterministic, sox runs
 * with -R and without dither, the noise floor comes from a seeded generator):
 *   1. every sentence is spoken by its voice at espeak's native 22050 Hz;
 *   2. sox trims espeak's leading and trailing silence, so a turn starts at its
 *      first audible sample and ends at its last;
 *   3. the trimmed turns are laid end to end at 22050 Hz with fixed gaps, so the
 *      boundaries are exact sample counts (turn times = samples / 22050);
 *   4. a quiet deterministic noise floor is added (a real microphone is never
 *      digitally silent, and log-mel features of exact zeros are meaningless);
 *   5. sox resamples the whole meeting once to 16 kHz (the models' rate) and
 *      48 kHz (the microphone's), so both files share one timeline.
 * The result is cached in .cache/fixtures/meeting/ and regenerated when a file
 * is missing, its size differs from the one recorded, or the generator changed.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mulberry32 } from '../core/prng';
import { isProcessAlive } from '../main/process-alive';

const execFileAsync = promisify(execFile);

export interface MeetingTurn {
  /** Speaker label as written in the RTTM ("A", "B", ...). */
  speaker: string;
  /** Seconds from the start of the meeting. */
  start: number;
  end: number;
  text: string;
}

export interface SyntheticMeeting {
  /** 16 kHz mono 16-bit WAV. */
  wav16k: string;
  /** 48 kHz mono 16-bit WAV (what the microphone delivers). */
  wav48k: string;
  /** Reference speaker turns, NIST RTTM. */
  rttm: string;
  turns: MeetingTurn[];
  durationS: number;
}

export interface SyntheticMeetingOptions {
  /** Where the files go (default .cache/fixtures/meeting in the repository). */
  dir?: string;
}

interface Voice {
  /** espeak-ng voice with variant. */
  voice: string;
  /** espeak-ng -p, 0..99. */
  pitch: number;
  /** espeak-ng -s, words per minute. */
  speed: number;
}

/**
 * Three voices that differ in every way espeak can make them differ: a female
 * variant high and quick, a British male variant low and slow, and the Klatt
 * synthesiser (a different voice source altogether) in the middle. Chosen by
 * measuring the generated speaker model's cosine similarities (f2 separated from
 * the others better than f3; m7 better than m1 or m3).
 *
 * Careful with voice names: espeak-ng 1.51 ignores the variant in "en-gb+m3"
 * (it resolves to plain en-gb, byte for byte), while "en+m3" (gmw/en, the same
 * British voice) and "en-us+f3" apply it. Hence "en+m7", not "en-gb+m7".
 */
const VOICES: Readonly<Record<string, Voice>> = {
  A: { voice: 'en-us+f2', pitch: 70, speed: 165 },
  B: { voice: 'en+m7', pitch: 30, speed: 150 },
  C: { voice: 'en-us+klatt4', pitch: 50, speed: 175 },
};

/**
 * Twelve turns; no speaker follows itself (that would be one turn), every
 * speaker talks four times, and the order is irregular so a labeller cannot
 * win by alternating. Sentences are 1.5 to 5 s long once spoken.
 */
const SCRIPT: readonly { speaker: string; text: string }[] = [
  { speaker: 'A', text: 'Good morning everyone, thanks for joining the weekly planning call.' },
  { speaker: 'B', text: 'Morning. I have the numbers from last week ready.' },
  { speaker: 'C', text: 'Before we start, can we check the release date?' },
  { speaker: 'A', text: 'Sure, the release is still planned for Thursday.' },
  { speaker: 'C', text: 'Great, then the testing team needs the build by Tuesday evening.' },
  { speaker: 'B', text: 'Sales went up by twelve percent.' },
  { speaker: 'A', text: 'That is better than we expected for this quarter.' },
  { speaker: 'B', text: 'Most of it came from the new customers in the north region.' },
  { speaker: 'C', text: 'Do we have enough support staff for them?' },
  { speaker: 'B', text: 'Not yet, we are hiring two more people next month.' },
  { speaker: 'A', text: 'Good. Let us meet again on Friday.' },
  { speaker: 'C', text: 'Fine with me, I will send the invitation after this call.' },
];

/** Silence before each turn (the first is the lead-in), seconds; fixed, irregular. */
const GAPS_S = [0.5, 0.8, 1.2, 0.6, 1.5, 0.9, 0.7, 1.3, 1.0, 0.6, 1.1, 0.8];
const TAIL_S = 0.5;
const SOURCE_RATE = 22050; // espeak-ng's output rate
/** Noise floor RMS relative to full scale: -60 dBFS, a quiet room through a decent microphone. */
const NOISE_RMS = 10 ** (-60 / 20);
const NOISE_SEED = 0x5ee1;

/** Bump when the generated audio or metadata change, so caches are regenerated. */
const GENERATOR_VERSION = 3;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MEETING_CACHE_DIR = path.join(repoRoot, '.cache/fixtures/meeting');

interface MeetingIndex {
  version: number;
  turns: MeetingTurn[];
  durationS: number;
  /** Byte size of each generated file, so a truncated or replaced file is noticed. */
  bytes: { wav16k: number; wav48k: number; rttm: number };
}

/** Paths of a cached synthetic meeting, generating it first when anything is missing or stale. */
export async function ensureSyntheticMeeting(
  opts: SyntheticMeetingOptions = {},
): Promise<SyntheticMeeting> {
  const dir = opts.dir ?? MEETING_CACHE_DIR;
  const files = {
    wav16k: path.join(dir, 'meeting-16k.wav'),
    wav48k: path.join(dir, 'meeting-48k.wav'),
    rttm: path.join(dir, 'meeting.rttm'),
    json: path.join(dir, 'meeting.json'),
  };
  const cached = await readIndex(files.json);
  if (cached?.version === GENERATOR_VERSION && cached.bytes) {
    const sizes = await Promise.all(
      (['wav16k', 'wav48k', 'rttm'] as const).map((k) =>
        fs.promises.stat(files[k]).then(
          (s) => s.size === cached.bytes[k],
          () => false,
        ),
      ),
    );
    if (sizes.every(Boolean))
      return { ...pick(files), turns: cached.turns, durationS: cached.durationS };
  }
  const index = await generate(dir, files);
  return { ...pick(files), turns: index.turns, durationS: index.durationS };
}

function pick(files: { wav16k: string; wav48k: string; rttm: string }) {
  return { wav16k: files.wav16k, wav48k: files.wav48k, rttm: files.rttm };
}

async function readIndex(file: string): Promise<MeetingIndex | null> {
  try {
    return JSON.parse(await fs.promises.readFile(file, 'utf8')) as MeetingIndex;
  } catch {
    // Missing or half-written (cannot happen with rename, but an older layout can): regenerate.
    return null;
  }
}

async function generate(
  dir: string,
  files: { wav16k: string; wav48k: string; rttm: string; json: string },
): Promise<MeetingIndex> {
  await fs.promises.mkdir(dir, { recursive: true });
  await removeAbandonedWorkDirs(dir);
  const work = await fs.promises.mkdtemp(path.join(dir, `.work-${process.pid}-`));
  try {
    // One turn at a time: the machine has two shared cores, and espeak is fast.
    const clips: Int16Array[] = [];
    for (const [i, line] of SCRIPT.entries()) {
      const voice = VOICES[line.speaker];
      if (!voice) throw new Error(`synthetic meeting: no voice for speaker ${line.speaker}`);
      clips.push(await speakTrimmed(voice, line.text, path.join(work, `turn-${i}.wav`)));
    }

    const gapSamples = GAPS_S.map((s) => Math.round(s * SOURCE_RATE));
    const tailSamples = Math.round(TAIL_S * SOURCE_RATE);
    const total =
      clips.reduce((n, c) => n + c.length, 0) + gapSamples.reduce((n, g) => n + g, 0) + tailSamples;
    const mix = new Float32Array(total);
    const turns: MeetingTurn[] = [];
    let at = 0;
    for (const [i, clip] of clips.entries()) {
      at += gapSamples[i] ?? 0;
      const line = SCRIPT[i]!;
      for (let k = 0; k < clip.length; k++) mix[at + k] = clip[k]! / 32768;
      turns.push({
        speaker: line.speaker,
        start: round3(at / SOURCE_RATE),
        end: round3((at + clip.length) / SOURCE_RATE),
        text: line.text,
      });
      at += clip.length;
    }
    addNoise(mix, NOISE_RMS, NOISE_SEED);

    const pcm = new Int16Array(total);
    for (let i = 0; i < total; i++) {
      pcm[i] = Math.max(-32768, Math.min(32767, Math.round(mix[i]! * 32768)));
    }
    const raw = path.join(work, 'meeting-22k.raw');
    await fs.promises.writeFile(raw, new Uint8Array(pcm.buffer));
    const durationS = round3(total / SOURCE_RATE);

    await resample(raw, 16000, path.join(work, 'meeting-16k.wav'));
    await resample(raw, 48000, path.join(work, 'meeting-48k.wav'));
    const rttm = turns
      .map(
        (t) =>
          `SPEAKER meeting 1 ${t.start.toFixed(3)} ${(t.end - t.start).toFixed(3)} <NA> <NA> ${t.speaker} <NA> <NA>\n`,
      )
      .join('');
    await fs.promises.writeFile(path.join(work, 'meeting.rttm'), rttm);
    const sizeOf = async (name: string) => (await fs.promises.stat(path.join(work, name))).size;
    const index: MeetingIndex = {
      version: GENERATOR_VERSION,
      turns,
      durationS,
      bytes: {
        wav16k: await sizeOf('meeting-16k.wav'),
        wav48k: await sizeOf('meeting-48k.wav'),
        rttm: await sizeOf('meeting.rttm'),
      },
    };
    await fs.promises.writeFile(path.join(work, 'meeting.json'), JSON.stringify(index, null, 2));

    // Renames within one directory are atomic; the index goes last, so a run killed
    // in between leaves an index-less (hence regenerated) cache, never a mismatched one.
    await fs.promises.rm(files.json, { force: true });
    await fs.promises.rename(path.join(work, 'meeting-16k.wav'), files.wav16k);
    await fs.promises.rename(path.join(work, 'meeting-48k.wav'), files.wav48k);
    await fs.promises.rename(path.join(work, 'meeting.rttm'), files.rttm);
    await fs.promises.rename(path.join(work, 'meeting.json'), files.json);
    return index;
  } finally {
    await fs.promises.rm(work, { recursive: true, force: true });
  }
}

/** Work folders of generator runs that were killed (their process is gone). */
async function removeAbandonedWorkDirs(dir: string): Promise<void> {
  for (const name of await fs.promises.readdir(dir)) {
    const pid = /^\.work-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || isProcessAlive(Number(pid))) continue;
    await fs.promises.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** One sentence at 22050 Hz, espeak's silence trimmed from both ends, as int16 samples. */
async function speakTrimmed(voice: Voice, text: string, wav: string): Promise<Int16Array> {
  await execFileAsync('espeak-ng', [
    '-v',
    voice.voice,
    '-p',
    String(voice.pitch),
    '-s',
    String(voice.speed),
    '-w',
    wav,
    text,
  ]);
  // silence 1 0.05 0.5%: drop audio until 50 ms above 0.5% of full scale; reversing
  // and doing it again trims the end the same way.
  const { stdout } = await execFileAsync(
    'sox',
    [
      ...['-R', '-D', wav],
      ...[
        '-t',
        'raw',
        '-e',
        'signed-integer',
        '-b',
        '16',
        '-c',
        '1',
        '-r',
        String(SOURCE_RATE),
        '-',
      ],
      ...['silence', '1', '0.05', '0.5%', 'reverse', 'silence', '1', '0.05', '0.5%', 'reverse'],
    ],
    { encoding: 'buffer', maxBuffer: 64 << 20 },
  );
  const bytes = new Uint8Array(stdout.byteLength & ~1);
  bytes.set(stdout.subarray(0, bytes.byteLength));
  const clip = new Int16Array(bytes.buffer);
  if (clip.length === 0)
    throw new Error(`synthetic meeting: espeak-ng produced silence for "${text}"`);
  return clip;
}

async function resample(raw: string, rate: number, out: string): Promise<void> {
  await execFileAsync('sox', [
    ...['-R', '-D'],
    ...['-t', 'raw', '-e', 'signed-integer', '-b', '16', '-c', '1', '-r', String(SOURCE_RATE), raw],
    ...['-t', 'wav', '-e', 'signed-integer', '-b', '16', '-c', '1', out],
    ...['rate', '-v', String(rate)],
  ]);
}

/** Adds seeded Gaussian noise (mulberry32 + Box-Muller): the same bytes on every run. */
function addNoise(samples: Float32Array, rms: number, seed: number): void {
  const rand = mulberry32(seed);
  for (let i = 0; i < samples.length; i++) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    samples[i]! += rms * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Samples of a 16-bit PCM mono WAV (as this module writes them) as floats in
 * [-1, 1), with its rate. Walks the RIFF chunks rather than assuming a 44-byte header.
 */
export async function readMonoWav(
  file: string,
): Promise<{ sampleRate: number; samples: Float32Array }> {
  const buf = await fs.promises.readFile(file);
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${file} is not a RIFF WAVE file`);
  }
  let sampleRate = 0;
  for (let at = 12; at + 8 <= buf.length;) {
    const id = buf.toString('ascii', at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ') {
      const format = buf.readUInt16LE(body);
      const channels = buf.readUInt16LE(body + 2);
      const bits = buf.readUInt16LE(body + 14);
      // 0xfffe is WAVE_FORMAT_EXTENSIBLE, which sox may write; its subformat is PCM here.
      if ((format !== 1 && format !== 0xfffe) || channels !== 1 || bits !== 16) {
        throw new Error(
          `${file}: expected 16-bit PCM mono, got format ${format}, ${channels} ch, ${bits} bit`,
        );
      }
      sampleRate = buf.readUInt32LE(body + 4);
    } else if (id === 'data') {
      if (sampleRate === 0) throw new Error(`${file}: data chunk before fmt chunk`);
      const n = Math.floor(Math.min(size, buf.length - body) / 2);
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) samples[i] = buf.readInt16LE(body + 2 * i) / 32768;
      return { sampleRate, samples };
    }
    at = body + size + (size & 1);
  }
  throw new Error(`${file} has no data chunk`);
}
