import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventSchema, type EventOf, type StenoEvent } from '../../core/api/events';
import { API_VERSION } from '../../core/api/version';
import { assertNoLeak, measureLeak } from '../../testing/leak';
import { SCRIPTED_HOST_RSS_BYTES } from '../../testing/scripted-host';
import {
  makeServiceFixture,
  pumpSeconds,
  type ServiceFixture,
} from '../../testing/service-fixture';

let f: ServiceFixture | null = null;
afterEach(async () => {
  await f?.dispose();
  f = null;
});

const is =
  <T extends StenoEvent['type']>(type: T) =>
  (e: StenoEvent): e is EventOf<T> =>
    e.type === type;

/** A final segment from the scripted host, as the real host sends it. */
function hostSegment(startS: number, text: string, voice: number) {
  const e = new Float32Array(4);
  e[voice] = 1;
  return {
    type: 'segment' as const,
    segment: {
      startSample: startS * 16_000,
      endSample: (startS + 1) * 16_000,
      text,
      embeddings: [e],
      language: 'en',
      turns: 1,
      turn: 0,
    },
    committedSample: (startS + 1) * 16_000,
  };
}

describe('StenoService: one recording through the API', () => {
  it('start, live segments, pause, resume, rename a speaker, stop, list, transcript', async () => {
    f = await makeServiceFixture();
    const live = await f.call('startRecording', {});
    expect(live.state).toBe('recording');
    expect(live.transcribing).toBe(true);
    await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
    await pumpSeconds(f, 2);
    f.hosts[0]!.emit(hostSegment(0.5, 'Good morning.', 0));
    const seg = await f.waitFor(is('transcript.segment'));
    expect(seg.segment).toMatchObject({ text: 'Good morning.', speaker: 0, startS: 0.5 });

    expect((await f.call('pauseRecording', {})).state).toBe('paused');
    expect(f.service.currentState().recording?.state).toBe('paused');
    expect((await f.call('resumeRecording', {})).state).toBe('recording');
    await pumpSeconds(f, 1);
    f.hosts[0]!.emit(hostSegment(2, 'Shall we start?', 1));
    await f.waitFor((e) => e.type === 'transcript.segment' && e.segment.text === 'Shall we start?');

    expect(await f.call('renameSpeaker', { id: live.id, speaker: 0, name: ' Ada ' })).toEqual({
      speaker: 0,
      name: 'Ada',
    });
    await f.waitFor((e) => e.type === 'speaker.renamed' && e.name === 'Ada');

    const summary = await f.call('stopRecording', {});
    expect(summary.state).toBe('complete');
    expect(summary.stopReason).toBe('user');
    expect(summary.durationS).toBeCloseTo(3, 1);
    const finished = await f.waitFor(is('recording.finished'));
    expect(finished.reason).toBe('user');
    expect(finished.stats.framesDropped).toBe(0);
    const done = await f.waitFor(is('transcript.finished'));
    expect(done.segmentCount).toBe(2);
    expect(f.service.currentState().recording).toBeNull();
    expect(f.service.currentState().hostState).toBe('stopped');

    const list = await f.call('listRecordings', {});
    expect(list.total).toBe(1);
    expect(list.recordings[0]).toMatchObject({
      id: live.id,
      state: 'complete',
      stopReason: 'user',
    });
    const details = await f.call('getRecording', { id: live.id });
    expect(details.segmentCount).toBe(2);
    expect(details.audioBytes).toBeGreaterThan(3 * 96_000);
    const t = await f.call('getTranscript', { id: live.id });
    expect(t.total).toBe(2);
    expect(t.segments.map((s) => s.text)).toEqual(['Good morning.', 'Shall we start?']);
    expect(t.speakerNames['0']).toBe('Ada');
    // The state change events arrived in order.
    const states = f.events.filter(is('recording.state')).map((e) => e.recording.state);
    expect(states).toEqual(['recording', 'recording', 'paused', 'recording', 'stopping']);
  });

  it('one recording at a time: a second start gets ALREADY_RECORDING', async () => {
    f = await makeServiceFixture({ settings: { liveTranscript: false } });
    await f.call('startRecording', {});
    const second = await f.service.call('startRecording', {});
    expect(second).toMatchObject({ ok: false, error: { code: 'ALREADY_RECORDING' } });
    // Two starts at once: exactly one wins.
    await f.call('stopRecording', {});
    await f.service.recorder.whenIdle();
    const [a, b] = await Promise.all([
      f.service.call('startRecording', {}),
      f.service.call('startRecording', {}),
    ]);
    expect([a.ok, b.ok].sort()).toEqual([false, true]);
  });

  it('pause, resume and stop with nothing recording get NOT_RECORDING', async () => {
    f = await makeServiceFixture();
    for (const command of ['pauseRecording', 'resumeRecording', 'stopRecording'] as const) {
      const r = await f.service.call(command, {});
      expect(r).toMatchObject({ ok: false, error: { code: 'NOT_RECORDING' } });
    }
  });

  it('answers malformed calls with an error reply and never throws', async () => {
    f = await makeServiceFixture();
    expect(await f.service.call('noSuchCommand', {})).toMatchObject({
      ok: false,
      error: { code: 'UNKNOWN_COMMAND' },
    });
    expect(await f.service.call('getRecording', { id: '../etc' })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_PAYLOAD' },
    });
    expect(await f.service.call('deleteRecording', { id: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_PAYLOAD' },
    });
    expect(await f.service.call('getRecording', { id: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'RECORDING_NOT_FOUND', action: expect.any(String) },
    });
    expect(await f.service.call('appInfo', { extra: 1 })).toMatchObject({ ok: false });
    const info = await f.call('appInfo', {});
    expect(info.apiVersion).toBe(API_VERSION);
  });

  it('deletes a recording only when confirmed and never the one being recorded', async () => {
    f = await makeServiceFixture({ settings: { liveTranscript: false } });
    const live = await f.call('startRecording', {});
    const refused = await f.service.call('deleteRecording', { id: live.id, confirm: true });
    expect(refused).toMatchObject({ ok: false, error: { code: 'INVALID_STATE' } });
    await pumpSeconds(f, 0.5);
    await f.call('stopRecording', {});
    await f.service.recorder.whenIdle();
    expect(await f.call('deleteRecording', { id: live.id, confirm: true })).toEqual({
      id: live.id,
    });
    expect(fs.existsSync(path.join(f.dir, 'recordings', live.id))).toBe(false);
    await f.waitFor((e) => e.type === 'recording.deleted' && e.id === live.id);
  });
});

describe('auto-stop', () => {
  it('stops after N hours of recording (the safety net), saying why in meta and event', async () => {
    // 0.01 h = 36 s of audio, delivered faster than real time.
    f = await makeServiceFixture({ settings: { liveTranscript: false, autoStopAfterHours: 0.01 } });
    const live = await f.call('startRecording', {});
    await pumpSeconds(f, 37);
    const finished = await f.waitFor(is('recording.finished'), 5000);
    expect(finished.reason).toBe('max-duration');
    expect(finished.recording.stopReason).toBe('max-duration');
    const meta = JSON.parse(
      fs.readFileSync(path.join(f.dir, 'recordings', live.id, 'meta.json'), 'utf8'),
    ) as { stopReason: string; state: string };
    expect(meta).toMatchObject({ stopReason: 'max-duration', state: 'complete' });
  });

  it('stops after N minutes of silence, and not while there is sound', async () => {
    f = await makeServiceFixture({
      capture: { frequency: 0 },
      settings: { liveTranscript: false, autoStopSilenceMinutes: 1 },
    });
    await f.call('startRecording', {});
    await pumpSeconds(f, 50);
    await new Promise((r) => setTimeout(r, 1200));
    expect(f.events.some(is('recording.finished'))).toBe(false);
    await pumpSeconds(f, 11);
    const finished = await f.waitFor(is('recording.finished'), 5000);
    expect(finished.reason).toBe('silence');
  });

  it('sound keeps a silence auto-stop from firing', async () => {
    f = await makeServiceFixture({
      capture: { frequency: 440 },
      settings: { liveTranscript: false, autoStopSilenceMinutes: 1 },
    });
    await f.call('startRecording', {});
    await pumpSeconds(f, 65);
    await new Promise((r) => setTimeout(r, 1200));
    expect(f.events.some(is('recording.finished'))).toBe(false);
    expect(f.service.currentState().recording?.state).toBe('recording');
  });
});

describe('the model host misbehaving', () => {
  it('a malformed message from the host leaves the recording running', async () => {
    f = await makeServiceFixture();
    await f.call('startRecording', {});
    await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
    await pumpSeconds(f, 1);
    const host = f.hosts[0]!;
    const garbage: unknown[] = [
      null,
      42,
      'segment',
      { type: 'segment' },
      { type: 'segment', segment: { startSample: -1, endSample: 2, text: 'x', embeddings: [] } },
      {
        type: 'segment',
        segment: { startSample: 0, endSample: 1, text: 7, language: 'en', embeddings: [] },
        committedSample: 0,
      },
      { type: 'error', id: null, error: 'boom' },
      { type: 'pong', id: 'x', rssBytes: 1 },
      { type: 'ack', seq: 1.5, committedSample: 0 },
      { type: 'unknown-type' },
    ];
    for (const g of garbage) host.emitRaw(g);
    expect(host.malformedMessages).toBe(garbage.length);
    await pumpSeconds(f, 1);
    expect(f.service.currentState().recording?.state).toBe('recording');
    host.emitRaw(hostSegment(0, 'Still here.', 0));
    await f.waitFor((e) => e.type === 'transcript.segment' && e.segment.text === 'Still here.');
    const summary = await f.call('stopRecording', {});
    expect(summary.state).toBe('complete');
    expect(summary.durationS).toBeCloseTo(2, 1);
  });

  it('a host error message in the protocol shape becomes an error event, not a crash', async () => {
    f = await makeServiceFixture();
    await f.call('startRecording', {});
    await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
    f.hosts[0]!.emitRaw({
      type: 'error',
      id: null,
      error: { code: 'NOT_A_CODE', message: 'whisper failed', action: 'retry' },
    });
    const err = await f.waitFor(is('error'));
    // An unknown code from the host is shown as INTERNAL, never passed on unchecked.
    expect(err.error).toEqual({ code: 'INTERNAL', message: 'whisper failed', action: 'retry' });
    expect(f.service.currentState().recording?.state).toBe('recording');
  });
});

describe('metrics', () => {
  it('samples memory, ring, disk and the host; an unanswered ping is unknown, not 0', async () => {
    f = await makeServiceFixture();
    await f.call('startRecording', {});
    await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
    await pumpSeconds(f, 1);
    // The file grows on disk at each sync (about once a second).
    const session = f.service.recorder.current!.session;
    while (session.stats.durableFrames < 48_000) await new Promise((r) => setTimeout(r, 50));
    const m = await f.service.metrics.sample();
    expect(m.mainRssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(m.heapUsedBytes).toBeGreaterThan(0);
    expect(m.hostRssBytes).toBe(SCRIPTED_HOST_RSS_BYTES);
    expect(m.hostState).toBe('ready');
    expect(m.ringCapacityBytes).toBe(10 * 48_000 * 2);
    expect(m.framesDropped).toBe(0);
    expect(m.recordingFileBytes).toBeGreaterThanOrEqual(96_000);
    expect(m.diskFreeBytes).toBeGreaterThan(0);
    expect(m.recordingSecondsLeft).toBeCloseTo(m.diskFreeBytes! / 96_000, 0);
    // The timer also publishes them, about once a second.
    await f.waitFor(is('metrics'), 3000);
  });

  it('a host that does not answer within 1 s shows as unknown', async () => {
    f = await makeServiceFixture({ host: { answerPings: false } });
    await f.call('startRecording', {});
    await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
    const started = performance.now();
    const m = await f.service.metrics.sample();
    expect(m.hostRssBytes).toBeNull();
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('reads free disk space at most every 10 s; in between, the reading less what the recording wrote', async () => {
    f = await makeServiceFixture();
    const statfs = vi.spyOn(fs.promises, 'statfs');
    try {
      await f.call('startRecording', {});
      await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
      const session = f.service.recorder.current!.session;
      await pumpSeconds(f, 1);
      while (session.stats.durableFrames < 48_000) await new Promise((r) => setTimeout(r, 50));
      const first = await f.service.metrics.sample();
      const reads = statfs.mock.calls.length;
      expect(reads).toBeGreaterThan(0);
      await pumpSeconds(f, 1);
      while (session.stats.durableFrames < 96_000) await new Promise((r) => setTimeout(r, 50));
      const second = await f.service.metrics.sample();
      expect(statfs.mock.calls.length).toBe(reads);
      const wrote = second.recordingFileBytes! - first.recordingFileBytes!;
      expect(wrote).toBeGreaterThanOrEqual(96_000);
      expect(first.diskFreeBytes! - second.diskFreeBytes!).toBe(wrote);
      // The file size is the writer's count of what reached the file: the file's own size.
      await f.call('pauseRecording', {});
      expect((await f.service.metrics.sample()).recordingFileBytes).toBe(
        fs.statSync(session.audioPath).size,
      );
    } finally {
      statfs.mockRestore();
    }
  });

  it('without a recording, recording gauges are unknown', async () => {
    f = await makeServiceFixture();
    const m = await f.service.metrics.sample();
    expect(m).toMatchObject({
      hostRssBytes: 0,
      ringUsedBytes: null,
      framesDropped: null,
      transcriptionLagS: null,
      recordingFileBytes: null,
      modelsLoaded: false,
    });
  });
});

describe('unload models', () => {
  it('ends the live transcript host; the recording goes on', async () => {
    f = await makeServiceFixture();
    await f.call('startRecording', {});
    await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
    const r = await f.call('unloadModels', {});
    expect(r.hostWasRunning).toBe(true);
    expect(r.treeRssBeforeBytes).toBeGreaterThan(0);
    expect(f.service.currentState().hostState).toBe('stopped');
    expect(f.service.currentState().recording).toMatchObject({
      state: 'recording',
      transcribing: false,
    });
    await pumpSeconds(f, 1);
    expect((await f.call('stopRecording', {})).state).toBe('complete');
    expect((await f.call('unloadModels', {})).hostWasRunning).toBe(false);
  });
});

describe('leaks', () => {
  it('start/stop through the service does not leak (1x/10x/100x)', async () => {
    f = await makeServiceFixture();
    const report = await measureLeak(async () => {
      await f!.call('startRecording', {});
      f!.captures.at(-1)!.pump(5);
      await f!.call('stopRecording', {});
      await f!.service.recorder.whenIdle();
      // The test's own records (events, hosts, captures) are not the service's memory.
      f!.events.length = 0;
      for (const h of f!.hosts.splice(0)) h.dispose();
      f!.captures.length = 0;
    });
    assertNoLeak(report, 4096);
  }, 120_000);

  it('subscribe/unsubscribe to the event stream does not leak (1x/10x/100x)', async () => {
    f = await makeServiceFixture();
    const report = await measureLeak(() => {
      const sub = f!.service.onDidEvent(() => {});
      sub.dispose();
    });
    assertNoLeak(report);
  });
});

describe('commands that race', () => {
  it('a stop during a pause waits for it; the recording ends complete, never "paused"', async () => {
    f = await makeServiceFixture({ settings: { liveTranscript: false } });
    const live = await f.call('startRecording', {});
    await pumpSeconds(f, 1);
    // The pause has begun (it is flushing the audio) when the stop arrives.
    const pausing = f.service.call('pauseRecording', {});
    await new Promise((r) => setImmediate(r));
    const [paused, stopped] = await Promise.all([pausing, f.service.call('stopRecording', {})]);
    expect(paused.ok).toBe(true);
    expect(stopped).toMatchObject({ ok: true, result: { state: 'complete' } });
    await f.service.recorder.whenIdle();
    const meta = JSON.parse(
      fs.readFileSync(path.join(f.dir, 'recordings', live.id, 'meta.json'), 'utf8'),
    ) as { state: string };
    expect(meta.state).toBe('complete');
    const states = f.events.filter(is('recording.state')).map((e) => e.recording.state);
    expect(states).toContain('stopping');
    expect(states.slice(states.indexOf('stopping'))).not.toContain('paused');
    // A pause after the stop is refused.
    expect(await f.service.call('pauseRecording', {})).toMatchObject({
      ok: false,
      error: { code: 'NOT_RECORDING' },
    });
  });

  it('shutdown during a start ends that recording (reason shutdown), and no new one starts', async () => {
    f = await makeServiceFixture();
    const starting = f.service.call('startRecording', {});
    const shutdown = f.service.shutdown();
    const started = await starting;
    expect(started.ok).toBe(true);
    await shutdown;
    const finished = await f.waitFor(is('recording.finished'));
    expect(finished.reason).toBe('shutdown');
    expect(f.service.currentState().recording).toBeNull();
    expect(await f.service.call('startRecording', {})).toMatchObject({
      ok: false,
      error: { code: 'INVALID_STATE', message: expect.stringMatching(/shutting down/) },
    });
  });

  it('a shutdown whose transcript never finishes ends the host after the deadline; the audio is final', async () => {
    f = await makeServiceFixture({ host: { answerFlush: false } });
    const live = await f.call('startRecording', {});
    await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
    await pumpSeconds(f, 1);
    const started = performance.now();
    await f.service.recorder.shutdown(300);
    expect(performance.now() - started).toBeLessThan(300 + 3000 + 1000);
    const finished = await f.waitFor(is('recording.finished'));
    expect(finished).toMatchObject({
      reason: 'shutdown',
      recording: { id: live.id, state: 'complete' },
    });
    const late = await f.waitFor(
      (e) => e.type === 'error' && /not finished within 0.3 s/.test(e.error.message),
    );
    expect(late).toBeDefined();
  });

  it('two settings changes at once keep both', async () => {
    f = await makeServiceFixture();
    await Promise.all([
      f.call('setSettings', { settings: { language: 'de' } }),
      f.call('setSettings', { settings: { maxTokens: 32 } }),
    ]);
    const saved = JSON.parse(fs.readFileSync(path.join(f.dir, 'settings.json'), 'utf8')) as {
      language: string;
      maxTokens: number;
    };
    expect(saved).toMatchObject({ language: 'de', maxTokens: 32 });
  });

  it('an error longer than the API allows is cut, so the event stays valid', async () => {
    f = await makeServiceFixture();
    await f.call('startRecording', {});
    await f.waitFor((e) => e.type === 'host.state' && e.state === 'ready');
    f.hosts[0]!.emitRaw({
      type: 'error',
      id: null,
      error: { code: 'HOST_FAILED', message: 'x'.repeat(9000), action: 'retry' },
    });
    const err = await f.waitFor(is('error'));
    expect(err.error.message.length).toBeLessThanOrEqual(4000);
    expect(EventSchema.safeParse(err).success).toBe(true);
  });
});
