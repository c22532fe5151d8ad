import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StenoEvent } from '../core/api/events';
import { DEFAULT_SETTINGS, type LiveRecording, type Segment } from '../core/api/types';
import { StenoError } from '../core/errors';
import { FAKE_APP_INFO, FAKE_STATE, FakeBackend, sampleEvents } from '../testing/fake-backend';
import { loopbackClient } from '../testing/loopback-client';
import { createControls, syncStore } from './api/store-sync';
import {
  createStenoStore,
  MAX_LIVE_SEGMENTS,
  selectElapsedS,
  watchSteno,
  type StenoStore,
} from './store';

const live = (id: string, state: LiveRecording['state'] = 'recording'): LiveRecording => ({
  id,
  state,
  device: 'Test microphone',
  startedAt: '2026-12-01T10:00:00.000Z',
  audioPath: `/tmp/steno-test-recordings/${id}/audio.wav`,
  sampleRate: 48_000,
  elapsedS: 12,
  transcribing: true,
});

const segment = (recordingId: string, id: number, speaker = 0): StenoEvent => ({
  type: 'transcript.segment',
  id: recordingId,
  segment: { id, startS: id * 2, endS: id * 2 + 1.5, text: `segment ${id}`, speaker },
});

const summary = (id: string) => ({
  id,
  startedAt: '2026-12-01T10:00:00.000Z',
  endedAt: '2026-12-01T10:05:00.000Z',
  device: 'Test microphone',
  sampleRate: 48_000,
  channels: 1,
  durationS: 300,
  state: 'complete' as const,
});

describe('the store: events', () => {
  let store: StenoStore;
  const apply = (e: StenoEvent) => store.getState().applyEvent(e);

  beforeEach(() => {
    store = createStenoStore();
  });

  it('a state event sets the recording, the host, the settings and the metrics', () => {
    const metrics = (sampleEvents.metrics(7) as Extract<StenoEvent, { type: 'metrics' }>).metrics;
    const settings = { ...DEFAULT_SETTINGS, language: 'de' };
    apply({
      type: 'state',
      state: { recording: live('rec-1'), hostState: 'ready', settings, metrics },
    });
    const s = store.getState();
    expect(s.recording).toEqual(live('rec-1'));
    expect(s.hostState).toBe('ready');
    expect(s.settings).toEqual(settings);
    expect(s.live.metrics).toEqual(metrics);
    expect(s.transcriptId).toBe('rec-1');
    apply({ type: 'state', state: { ...FAKE_STATE, hostState: 'parked' } });
    expect(store.getState().recording).toBeNull();
    expect(store.getState().hostState).toBe('parked');
  });

  it('recording.state follows the recording; a new recording starts a new transcript', () => {
    apply({ type: 'recording.state', recording: live('rec-1') });
    apply(segment('rec-1', 0));
    apply({ type: 'recording.state', recording: live('rec-1', 'paused') });
    expect(store.getState().recording?.state).toBe('paused');
    expect(store.getState().segments).toHaveLength(1);
    apply({ type: 'recording.state', recording: live('rec-2') });
    expect(store.getState().transcriptId).toBe('rec-2');
    expect(store.getState().segments).toEqual([]);
  });

  it(`keeps only the last ${MAX_LIVE_SEGMENTS} segments, in order`, () => {
    apply({ type: 'recording.state', recording: live('rec-1') });
    for (let i = 0; i < 1234; i++) apply(segment('rec-1', i));
    const ids = store.getState().segments.map((s) => s.id);
    expect(ids).toHaveLength(MAX_LIVE_SEGMENTS);
    expect(ids).toEqual(
      Array.from({ length: MAX_LIVE_SEGMENTS }, (_, k) => 1234 - MAX_LIVE_SEGMENTS + k),
    );
  });

  it('merges segments fetched after a resync with those that arrived, by id, bounded', () => {
    apply({ type: 'recording.state', recording: live('rec-1') });
    apply(segment('rec-1', 900));
    apply(segment('rec-1', 901));
    const fetched: Segment[] = Array.from({ length: 600 }, (_, k) => ({
      id: 300 + k,
      startS: k,
      endS: k + 1,
      text: `fetched ${300 + k}`,
      speaker: 1,
    }));
    store.getState().mergeSegments('rec-1', fetched, { '1': 'Ada' });
    const s = store.getState();
    expect(s.segments).toHaveLength(MAX_LIVE_SEGMENTS);
    expect(s.segments.at(-1)?.text).toBe('segment 901');
    expect(s.segments.at(-3)?.text).toBe('fetched 899');
    expect(s.segments[0]?.id).toBe(402);
    expect(s.speakerNames).toEqual({ 1: 'Ada' });
    // A segment that arrives late or twice lands in its place, once.
    apply(segment('rec-1', 899, 2));
    expect(store.getState().segments.filter((x) => x.id === 899)).toEqual([
      { id: 899, startS: 1798, endS: 1799.5, text: 'segment 899', speaker: 2 },
    ]);
  });

  it('relabels and names the speakers of this transcript, and ignores another recording', () => {
    apply({ type: 'recording.state', recording: live('rec-1') });
    for (let i = 0; i < 4; i++) apply(segment('rec-1', i, 0));
    apply({
      type: 'transcript.relabelled',
      id: 'rec-1',
      changes: [
        { segment: 2, speaker: 1, overlap: false },
        { segment: 3, speaker: 0, overlap: true },
      ],
    });
    apply({
      type: 'transcript.relabelled',
      id: 'rec-9',
      changes: [{ segment: 3, speaker: 5, overlap: false }],
    });
    apply({ type: 'speaker.renamed', id: 'rec-1', speaker: 1, name: 'Grace' });
    apply({ type: 'speaker.renamed', id: 'rec-9', speaker: 0, name: 'Nobody' });
    let s = store.getState();
    expect(s.segments.map((x) => x.speaker)).toEqual([0, 0, 1, 0]);
    expect(s.segments.map((x) => x.overlap ?? false)).toEqual([false, false, false, true]);
    expect(s.speakerNames).toEqual({ 1: 'Grace' });
    // A later re-clustering may take a mark back.
    apply({
      type: 'transcript.relabelled',
      id: 'rec-1',
      changes: [{ segment: 3, speaker: 0, overlap: false }],
    });
    s = store.getState();
    expect(s.segments[3]).toEqual({ id: 3, startS: 6, endS: 7.5, text: 'segment 3', speaker: 0 });
  });

  it('the host state, settings, errors and the end of a recording', () => {
    apply({ type: 'recording.state', recording: live('rec-1') });
    apply({ type: 'host.state', state: 'crashed', pid: null, detail: 'signal 9' });
    expect(store.getState().hostState).toBe('crashed');
    const error = {
      code: 'HOST_FAILED' as const,
      message: 'The transcriber stopped.',
      action: 'It restarts.',
    };
    apply({ type: 'error', error, context: 'transcript' });
    expect(store.getState().problem).toEqual({ ...error, context: 'transcript' });
    const stats = {
      capturedS: 300,
      framesDropped: 0,
      ringHighWaterBytes: 4096,
      ringCapacityBytes: 1 << 20,
    };
    apply({ type: 'recording.finished', recording: summary('rec-1'), reason: 'silence', stats });
    expect(store.getState().recording).toBeNull();
    expect(store.getState().lastFinished).toEqual({
      recording: summary('rec-1'),
      reason: 'silence',
    });
    // The transcript stays on screen after the recording ended.
    expect(store.getState().transcriptId).toBe('rec-1');
  });

  it('high-frequency events change only the live values, not what components select', () => {
    apply({ type: 'recording.state', recording: live('rec-1') });
    apply(segment('rec-1', 0));
    const before = store.getState();
    apply(sampleEvents.level(-12));
    apply({ type: 'recording.progress', id: 'rec-1', elapsedS: 42.5, durableS: 41 });
    apply(sampleEvents.metrics(99));
    apply({
      type: 'transcript.partial',
      id: 'rec-1',
      partial: { startS: 1, endS: 2, text: 'hel' },
    });
    const after = store.getState();
    expect(after.recording).toBe(before.recording);
    expect(after.segments).toBe(before.segments);
    expect(after.speakerNames).toBe(before.speakerNames);
    expect(after.problem).toBe(before.problem);
    expect(after.live.level).toEqual({ peakDbfs: -12, rmsDbfs: -18 });
    expect(after.live.partial).toEqual({ id: 'rec-1', text: 'hel' });
    expect(selectElapsedS(after)).toBe(42.5);
  });

  it('watchSteno reports a value now and on each change, not on other changes', () => {
    apply({ type: 'recording.state', recording: live('rec-1') });
    const seen: (number | null)[] = [];
    const stop = watchSteno(store, selectElapsedS, (v) => seen.push(v));
    apply({ type: 'recording.progress', id: 'rec-1', elapsedS: 1, durableS: 1 });
    apply(sampleEvents.level(-3));
    apply({ type: 'recording.progress', id: 'rec-1', elapsedS: 1, durableS: 1 });
    apply({ type: 'recording.progress', id: 'rec-1', elapsedS: 2, durableS: 2 });
    stop();
    apply({ type: 'recording.progress', id: 'rec-1', elapsedS: 3, durableS: 3 });
    expect(seen).toEqual([12, 1, 2]);
  });
});

describe('the store kept in step with a client', () => {
  let backend: FakeBackend;
  let store: StenoStore;
  const transcript: Segment[] = Array.from({ length: 720 }, (_, k) => ({
    id: k,
    startS: k * 2,
    endS: k * 2 + 1,
    text: `stored ${k}`,
    speaker: k % 2,
  }));

  beforeEach(() => {
    store = createStenoStore();
    backend = new FakeBackend({
      appInfo: () => FAKE_APP_INFO,
      getState: () => backend.currentState(),
      getTranscript: (p) => {
        const { offset = 0, limit = 2000 } = p as { offset?: number; limit?: number };
        return {
          segments: transcript.slice(offset, offset + limit),
          speakerNames: { '0': 'Ada' },
          offset,
          total: transcript.length,
        };
      },
      startRecording: () => {
        throw new StenoError('NO_INPUT_DEVICE', 'There is no microphone.', 'Plug one in.');
      },
      pauseRecording: () => live('rec-1', 'paused'),
    });
  });

  afterEach(() => backend.dispose());

  const settled = () => new Promise((resolve) => setTimeout(resolve, 20));

  it('connects: app info, the whole state, and the live transcript’s last page', async () => {
    backend.state = { ...FAKE_STATE, recording: live('rec-1'), hostState: 'ready' };
    const sync = syncStore(loopbackClient(backend), store);
    await settled();
    const s = store.getState();
    expect(s.connection).toEqual({ status: 'connected', info: FAKE_APP_INFO });
    expect(s.recording).toEqual(live('rec-1'));
    expect(s.segments.map((x) => x.id)).toEqual(
      transcript.slice(-MAX_LIVE_SEGMENTS).map((x) => x.id),
    );
    expect(s.speakerNames).toEqual({ 0: 'Ada' });
    backend.fire(segment('rec-1', 720));
    expect(store.getState().segments.at(-1)?.id).toBe(720);
    sync.dispose();
    backend.fire(segment('rec-1', 721));
    expect(store.getState().segments.at(-1)?.id).toBe(720);
  });

  it('a failed connection shows its message and what to do', async () => {
    const empty = new FakeBackend();
    const sync = syncStore(loopbackClient(empty), store);
    await settled();
    expect(store.getState().connection).toMatchObject({
      status: 'failed',
      problem: { code: 'UNKNOWN_COMMAND', context: 'connecting' },
    });
    sync.dispose();
    empty.dispose();
  });

  it("the buttons' commands: a failure becomes the problem, a success the recording", async () => {
    const client = loopbackClient(backend);
    const controls = createControls(client, store);
    await controls.start();
    expect(store.getState().problem).toEqual({
      code: 'NO_INPUT_DEVICE',
      message: 'There is no microphone.',
      action: 'Plug one in.',
      context: 'startRecording',
    });
    expect(store.getState().pendingCommand).toBeNull();
    await controls.pause();
    expect(store.getState().problem).toBeNull();
    expect(store.getState().recording).toEqual(live('rec-1', 'paused'));
  });
});
