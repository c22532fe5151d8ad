import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StenoError } from '../../core/errors';
import type { HostModelPaths, HostSegment } from '../../core/host-protocol';
import type { TranscriptSegment } from '../../core/transcript';
import { ScriptedHost, scriptedLauncher } from '../../testing/scripted-host';
import { wavFeedSource } from '../../testing/feed-source';
import { TEST_HOST_OPTIONS } from '../../testing/test-models';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { LiveTranscriber } from './live-transcriber';
import type { RelabelPage } from './transcript-recluster';
import { loadTranscript } from './transcript-store';

const FAKE_MODELS: HostModelPaths = { whisper: 'w', vad: 'v', embedding: 'e' };

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-live-');
});
afterEach(() => removeTempDir(dir));

/** An embedding near one of a few orthogonal voice directions. */
function voice(which: number, wobble: number): Float32Array {
  const e = new Float32Array(8);
  e[which] = 1;
  e[(which + 1) % 8] = wobble;
  const norm = Math.hypot(...e);
  return e.map((x) => x / norm);
}

function segment(startS: number, text: string, embeddings: Float32Array[]): HostSegment {
  return {
    startSample: startS * 16_000,
    endSample: (startS + 1) * 16_000,
    text,
    embeddings,
    language: 'en',
    turns: 1,
    turn: 0,
  };
}

/** A live transcriber over a silent 20 s recording and scripted hosts, started. */
async function startLive(): Promise<{ live: LiveTranscriber; hosts: ScriptedHost[] }> {
  const { launcher, hosts } = scriptedLauncher();
  const live = new LiveTranscriber({
    folder: dir,
    source: wavFeedSource(dir, 20),
    models: FAKE_MODELS,
    options: TEST_HOST_OPTIONS,
    launcher,
  });
  await live.start();
  return { live, hosts };
}

describe('LiveTranscriber', () => {
  it('labels speakers, writes each segment once, drops resent and empty ones, relabels at the end', async () => {
    const { live, hosts } = await startLive();
    const shown: TranscriptSegment[] = [];
    const failures: StenoError[] = [];
    const subs = [live.onDidSegment((s) => shown.push(s)), live.onDidFail((e) => failures.push(e))];
    const host = hosts[0]!;
    host.emit({
      type: 'segment',
      segment: segment(1, ' Hello.', [voice(0, 0.1)]),
      committedSample: 0,
    });
    host.emit({
      type: 'segment',
      segment: segment(3, ' Hi.', [voice(1, 0.1)]),
      committedSample: 0,
    });
    // The same utterance again, as a restarted host would resend it.
    host.emit({
      type: 'segment',
      segment: segment(3, ' Hi.', [voice(1, 0.1)]),
      committedSample: 0,
    });
    // Whisper heard nothing in a cough.
    host.emit({ type: 'segment', segment: segment(5, '  ', [voice(0, 0.2)]), committedSample: 0 });
    host.emit({
      type: 'segment',
      segment: segment(7, ' Back to me.', [voice(0, 0.3), voice(0, 0.2)]),
      committedSample: 0,
    });
    const summary = await live.finish();
    const transcript = await loadTranscript(dir);

    expect(shown.map((s) => [s.text, s.speaker])).toEqual([
      [' Hello.', 0],
      [' Hi.', 1],
      [' Back to me.', 0],
    ]);
    expect(live.duplicatesDropped).toBe(1);
    expect(live.emptyUtterances).toBe(1);
    expect(live.segmentsWritten).toBe(3);
    expect(failures).toEqual([]);
    // What finish sums up is what a later load of the recording gives.
    expect(summary).toEqual({ segmentCount: 3, speakerCount: 2 });
    expect(transcript.segments.map((s) => [s.startS, s.speaker])).toEqual([
      [1, 0],
      [3, 1],
      [7, 0],
    ]);
    for (const s of subs) s.dispose();
    live.dispose();
    for (const h of hosts) h.dispose();
  });

  it('writes every turn of a cut utterance, a wordless one too, each with its own label', async () => {
    const { live, hosts } = await startLive();
    const shown: TranscriptSegment[] = [];
    const sub = live.onDidSegment((s) => shown.push(s));
    const host = hosts[0]!;
    const turn = (startS: number, text: string, e: Float32Array, i: number, of: number) => ({
      type: 'segment' as const,
      segment: { ...segment(startS, text, [e]), turns: of, turn: i },
      committedSample: 0,
    });
    // One utterance cut in three: voice 0, voice 1 with no words, voice 0.
    host.emit(turn(1, 'Yes, I', voice(0, 0.1), 0, 3));
    host.emit(turn(2, '', voice(1, 0.1), 1, 3));
    host.emit(turn(3, 'agree.', voice(0, 0.1), 2, 3));
    // A whole utterance with no words is still dropped.
    host.emit(turn(5, ' ', voice(1, 0.1), 0, 1));
    await live.finish();
    expect(shown.map((s) => [s.startS, s.text, s.speaker])).toEqual([
      [1, 'Yes, I', 0],
      [2, '', 1],
      [3, 'agree.', 0],
    ]);
    expect(live.emptyUtterances).toBe(1);
    sub.dispose();
    live.dispose();
    for (const h of hosts) h.dispose();
  });

  it('keeps the transcript when the recording folder was deleted and remade during the meeting', async () => {
    const { live, hosts } = await startLive();
    const host = hosts[0]!;
    host.emit({
      type: 'segment',
      segment: segment(1, ' One.', [voice(0, 0.1)]),
      committedSample: 0,
    });
    await new Promise((r) => setTimeout(r, 50));
    // As RecordingSession does when its folder vanished: a new folder, the audio saved into it.
    const audio = fs.readFileSync(path.join(dir, 'audio.wav'));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'audio.wav'), audio);
    host.emit({
      type: 'segment',
      segment: segment(3, ' Two.', [voice(1, 0.1)]),
      committedSample: 0,
    });
    expect(await live.finish()).toEqual({ segmentCount: 2, speakerCount: 2 });
    expect((await loadTranscript(dir)).segments.map((s) => s.text)).toEqual([' One.', ' Two.']);
    live.dispose();
    for (const h of hosts) h.dispose();
  });

  it('re-clustering at the end relabels what the online pass split, and the new labels persist', async () => {
    const { live, hosts } = await startLive();
    const shown: number[] = [];
    const pages: RelabelPage[] = [];
    const subs = [
      live.onDidSegment((s) => shown.push(s.speaker)),
      live.onDidRelabel((p) => pages.push(p)),
    ];
    const host = hosts[0]!;
    const at = (angle: number) => {
      const e = new Float32Array(8);
      e[0] = Math.cos(angle);
      e[1] = Math.sin(angle);
      return e;
    };
    // A and B are far apart (cosine 0.36): online, B starts a second speaker.
    // C sits between them, nearer A (0.85 to A, 0.80 to B): online it joins
    // A. Seen together, average linkage joins all three (A+C against B:
    // (0.36 + 0.80) / 2 = 0.58 > 0.5), so B is relabelled at the end.
    host.emit({ type: 'segment', segment: segment(1, ' A', [at(0)]), committedSample: 0 });
    host.emit({ type: 'segment', segment: segment(3, ' B', [at(1.2)]), committedSample: 0 });
    host.emit({ type: 'segment', segment: segment(5, ' C', [at(0.55)]), committedSample: 0 });
    expect(await live.finish()).toEqual({ segmentCount: 3, speakerCount: 1 });
    expect(shown).toEqual([0, 1, 0]);
    // Only B changed, announced by its id.
    expect(pages).toEqual([{ changes: [{ segment: 3 * 16_000, speaker: 0, overlap: false }] }]);
    expect((await loadTranscript(dir)).segments.map((s) => s.speaker)).toEqual([0, 0, 0]);
    for (const s of subs) s.dispose();
    live.dispose();
    for (const h of hosts) h.dispose();
  });
});
