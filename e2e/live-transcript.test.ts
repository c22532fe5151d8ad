import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bestNormalizedCorrelation } from '../src/testing/correlation';
import { ensureSyntheticMeeting, type SyntheticMeeting } from '../src/testing/synthetic-meeting';
import { makeTempDir, removeTempDir } from '../src/testing/tmp';
import { readMonoSamples, soxDuration, spokenSentence } from './support/audio';
import { testModels } from '../src/testing/test-models';
import { progressPast, runSteno, StenoProcess, type CliEvent } from './support/steno-cli';
import { playIntoMic, requireVirtualMic } from './support/virtual-mic';

interface Segment {
  id: number;
  startS: number;
  endS: number;
  text: string;
  speaker: number;
}

let out: string;
let meeting: SyntheticMeeting;
let models: { whisper: string; embedding: string; text: string };

beforeAll(async () => {
  requireVirtualMic();
  out = makeTempDir('steno-live-');
  meeting = await ensureSyntheticMeeting();
  models = await testModels();
}, 120_000);
afterAll(() => removeTempDir(out));

/** `steno record` with the test models for `seconds`, once its transcription has started. */
async function recordWithModels(seconds: number, speakers = 'auto'): Promise<StenoProcess> {
  const rec = new StenoProcess([
    'record',
    '--json',
    '--speakers',
    speakers,
    '--out',
    out,
    '--whisper-model',
    models.whisper,
    '--embedding-model',
    models.embedding,
    '--seconds',
    String(seconds),
  ]);
  await rec.waitFor((e) => e.type === 'host.state' && e.state === 'ready', 60_000);
  return rec;
}

/** The whole transcript as `steno transcript --json` prints it (pages of the API's result). */
async function printedTranscript(
  id: string,
): Promise<{ segments: Segment[]; speakerNames: Record<string, string> }> {
  const printed = await runSteno(['transcript', id, '--json', '--out', out]);
  expect(printed.code, printed.stderr).toBe(0);
  const pages = printed.events as unknown as {
    segments: Segment[];
    speakerNames: Record<string, string>;
  }[];
  return {
    segments: pages.flatMap((p) => p.segments),
    speakerNames: pages.at(-1)?.speakerNames ?? {},
  };
}

const isHostReady = (e: CliEvent) =>
  e.type === 'host.state' && (e.state === 'ready' || e.state === 'restarted');

/** Records while the synthetic meeting plays into the microphone. */
async function recordMeeting(
  onHostReady?: (e: CliEvent, rec: StenoProcess) => void,
  extraSeconds = 4,
  speakers = 'auto',
) {
  const rec = await recordWithModels(Math.ceil(meeting.durationS + extraSeconds), speakers);
  let readyCount = 0;
  const watcher = setInterval(() => {
    const ready = rec.events.filter(isHostReady);
    // (Not `onHostReady?.(ready[readyCount++])`: an absent callback would
    // skip the increment and spin forever.)
    for (; readyCount < ready.length; readyCount++) onHostReady?.(ready[readyCount]!, rec);
  }, 50);
  await rec.waitFor(progressPast(1));
  await playIntoMic(meeting.wav48k);
  const { code } = await rec.exited;
  clearInterval(watcher);
  expect(code, rec.stderr.slice(-3000)).toBe(0);
  const file = rec.started()!.audioPath;
  // Where the meeting starts in the recording: correlate what was played.
  const { lag } = bestNormalizedCorrelation(
    readMonoSamples(file).samples,
    readMonoSamples(meeting.wav48k).samples,
  );
  return { rec, file, offsetS: lag / 48_000 };
}

function matchTurns(segments: Segment[], offsetS: number) {
  return meeting.turns.map((turn) =>
    segments.filter((s) => s.startS - offsetS < turn.end && s.endS - offsetS > turn.start),
  );
}

describe('live transcript from the model host', () => {
  it('gives each turn its own segments with the known text, turn boundaries within 0.5 s, and 3 speakers', async () => {
    const { rec, offsetS } = await recordMeeting();
    const live = rec.events
      .filter((e) => e.type === 'transcript.segment')
      .map((e) => e.segment as Segment);
    const finished = rec.last('transcript.finished')!;
    const id = rec.started()!.id;
    const final = await printedTranscript(id);
    // A turn may be cut where the host heard a change inside it; the
    // fixed-text model's words then go to the pieces by their timestamps.
    expect(live.length).toBeGreaterThanOrEqual(meeting.turns.length);
    expect(final.segments.length).toBe(live.length);
    const matches = matchTurns(final.segments, offsetS);
    // No segment spans two turns.
    for (const s of final.segments) {
      const turns = matches.filter((m) => m.includes(s)).length;
      expect(turns, `segment at ${s.startS} s lies in ${turns} turns`).toBe(1);
    }
    matches.forEach((m, i) => {
      const turn = meeting.turns[i]!;
      expect(m.length, `turn ${i} matched no segment`).toBeGreaterThanOrEqual(1);
      const words = m.map((s) => s.text).filter((t) => t !== '');
      expect(words.join(' '), `turn ${i}`).toBe(models.text);
      expect(Math.abs(m[0]!.startS - offsetS - turn.start), `turn ${i} start`).toBeLessThanOrEqual(
        0.5,
      );
      expect(Math.abs(m.at(-1)!.endS - offsetS - turn.end), `turn ${i} end`).toBeLessThanOrEqual(
        0.5,
      );
    });
    expect(finished.speakerCount).toBe(3);
    expect(new Set(final.segments.map((s) => s.speaker)).size).toBe(3);
    // Speakers are consistent with the truth: same voice, same label (each
    // turn by its longest segment).
    const longest = (m: Segment[]) =>
      m.reduce((a, b) => (b.endS - b.startS > a.endS - a.startS ? b : a));
    const labelOf = new Map<string, number>();
    matches.forEach((m, i) => {
      const truth = meeting.turns[i]!.speaker;
      const label = longest(m).speaker;
      if (!labelOf.has(truth)) labelOf.set(truth, label);
      expect(label, `turn ${i} (${truth})`).toBe(labelOf.get(truth));
    });
    expect(new Set(labelOf.values()).size).toBe(3);

    // The finished transcript is loadable afterwards, and names persist.
    const renamed = await runSteno(['rename-speaker', id, '1', 'Ada', '--out', out]);
    expect(renamed.code, renamed.stderr).toBe(0);
    const t = await printedTranscript(id);
    expect(t.segments).toEqual(final.segments);
    expect(t.speakerNames['0']).toBe('Ada');
    const text = await runSteno(['transcript', id, '--out', out]);
    expect(text.stdout).toMatch(/\] Ada: /);
  }, 240_000);

  it('survives the host being killed 10 times: WAV intact, every utterance transcribed exactly once', async () => {
    let kills = 0;
    const { rec, file, offsetS } = await recordMeeting(
      (ready) => {
        if (kills >= 10) return;
        kills++;
        // Let it work a little, then kill -9 it.
        setTimeout(
          () => {
            try {
              process.kill(Number(ready.pid), 'SIGKILL');
            } catch {
              // already gone
            }
          },
          800 + 100 * kills,
        );
      },
      20, // a longer recording: all 10 kills fall while it records
      // Exactly-once across restarts is about utterances: one segment each.
      '1',
    );
    const crashes = rec.events.filter((e) => e.type === 'host.state' && e.state === 'crashed');
    expect(kills).toBe(10);
    expect(crashes.length).toBeGreaterThanOrEqual(10);
    // Every kill fell while the recording ran (progress events stop at Stop).
    const lastProgress = rec.events.lastIndexOf(rec.last('recording.progress')!);
    const crashIndexes = crashes.map((c) => rec.events.indexOf(c));
    expect(crashIndexes.filter((i) => i < lastProgress).length).toBeGreaterThanOrEqual(10);
    // The recording is untouched.
    const stopped = rec.ended()!;
    expect(stopped.state).toBe('complete');
    expect(stopped.droppedFrames).toBe(0);
    expect(soxDuration(file)).toBeCloseTo(stopped.durationS, 2);
    const final = await printedTranscript(rec.started()!.id);
    const matches = matchTurns(final.segments, offsetS);
    matches.forEach((m, i) =>
      expect(m.length, `turn ${i} was transcribed ${m.length} times`).toBe(1),
    );
    expect(final.segments.length).toBe(meeting.turns.length);
    for (const s of final.segments) expect(s.text).toBe(models.text);
  }, 300_000);

  it('the recording folder deleted mid-meeting: audio and transcript are both saved again', async () => {
    const sentence = spokenSentence(
      'rescue-sentence',
      'Nothing said in this meeting is lost when its folder disappears.',
    );
    const rec = await recordWithModels(60, '1');
    await rec.waitFor(progressPast(1));
    await playIntoMic(sentence);
    await rec.waitFor((e) => e.type === 'transcript.segment', 30_000);
    const file = rec.started()!.audioPath;
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    const { code } = await rec.exited;
    expect(code).toBe(1);
    const stopped = rec.ended()!;
    expect(stopped.error?.code).toBe('DIR_VANISHED');
    expect(rec.stderr).toMatch(/were saved again to/);
    expect(soxDuration(file)).toBeCloseTo(stopped.durationS, 2);
    // The segment shown live is in the remade folder's transcript.
    const t = await printedTranscript(rec.started()!.id);
    expect(t.segments.length).toBeGreaterThanOrEqual(1);
    expect(t.segments[0]!.text).toBe(models.text);
  }, 180_000);
});
