import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MAX_CHUNK_SAMPLES,
  MAX_UNACKED_CHUNKS,
  type HostModelPaths,
} from '../../core/host-protocol';
import { assertNoLeak, measureLeak } from '../../testing/leak';
import { ScriptedHost, scriptedLauncher, type ReceivedChunk } from '../../testing/scripted-host';
import { wavFeedSource } from '../../testing/feed-source';
import { TEST_HOST_OPTIONS } from '../../testing/test-models';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { TranscriptionFeed } from './feed';
import { ModelHostSupervisor } from './supervisor';

const RATE = 48_000;
const FAKE_MODELS: HostModelPaths = { whisper: 'w', vad: 'v', embedding: 'e' };

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-feed-');
});
afterEach(() => removeTempDir(dir));

/** A recording of `seconds` of a 440 Hz tone. */
function recording(seconds: number) {
  return wavFeedSource(dir, seconds, (i) =>
    Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / RATE)),
  );
}

function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) resolve();
      else if (performance.now() > deadline) reject(new Error('condition not met in time'));
      else setTimeout(check, 5);
    };
    check();
  });
}

/** The chunks start where the previous ended: no gap, no overlap. */
function expectContiguous(chunks: ReceivedChunk[], from: number): number {
  let next = from;
  for (const c of chunks) {
    expect(c.startSample).toBe(next);
    expect(c.length).toBeGreaterThan(0);
    expect(c.length).toBeLessThanOrEqual(MAX_CHUNK_SAMPLES);
    next += c.length;
  }
  return next;
}

async function startWith(
  make?: (index: number) => ScriptedHost,
): Promise<{ supervisor: ModelHostSupervisor; hosts: ScriptedHost[] }> {
  const { launcher, hosts } = scriptedLauncher(make);
  const supervisor = new ModelHostSupervisor({
    models: FAKE_MODELS,
    options: TEST_HOST_OPTIONS,
    launcher,
    backoffMs: [10],
  });
  await supervisor.start();
  return { supervisor, hosts };
}

describe('TranscriptionFeed', () => {
  it('sends every recorded second exactly once, resampled to 16 kHz, in order', async () => {
    const { supervisor, hosts } = await startWith();
    const source = recording(10);
    const feed = new TranscriptionFeed(source, supervisor);
    await feed.finish();
    const end = expectContiguous(hosts[0]!.received, 0);
    expect(end).toBe(10 * 16_000);
    expect(feed.lagSeconds).toBe(0);
    expect(feed.unacknowledgedChunks).toBe(0);
    feed.dispose();
    await supervisor.stop();
    supervisor.dispose();
    for (const h of hosts) h.dispose();
  });

  it(`keeps at most ${MAX_UNACKED_CHUNKS} chunks unacknowledged, and reports the lag`, async () => {
    const { supervisor, hosts } = await startWith(() => new ScriptedHost({ holdAcks: true }));
    const source = recording(30);
    const feed = new TranscriptionFeed(source, supervisor);
    const host = hosts[0]!;
    await until(() => host.received.length >= MAX_UNACKED_CHUNKS);
    // Several poll rounds later, still no more than the window.
    await new Promise((r) => setTimeout(r, 500));
    expect(host.received).toHaveLength(MAX_UNACKED_CHUNKS);
    expect(feed.unacknowledgedChunks).toBe(MAX_UNACKED_CHUNKS);
    expect(feed.lagSeconds).toBe(30);
    host.releaseAcks();
    await until(() => host.received.length > MAX_UNACKED_CHUNKS);
    expect(feed.lagSeconds).toBeLessThan(30);
    feed.dispose();
    await supervisor.stop();
    supervisor.dispose();
    for (const h of hosts) h.dispose();
  });

  it('finish waits as long as the host makes progress, and gives up only when it stops', async () => {
    // A slow host: it acknowledges a few chunks every 100 ms, so 30 s of audio
    // takes about 2 s in all, well past finish's 400 ms of allowed stillness.
    const { supervisor, hosts } = await startWith(() => new ScriptedHost({ holdAcks: true }));
    const feed = new TranscriptionFeed(recording(30), supervisor);
    const host = hosts[0]!;
    const slowly = setInterval(() => host.releaseAcks(), 100);
    const started = performance.now();
    await feed.finish(400);
    clearInterval(slowly);
    expect(performance.now() - started).toBeGreaterThan(800);
    expect(expectContiguous(host.received, 0)).toBe(30 * 16_000);
    feed.dispose();

    // A host that stops answering: finish fails 400 ms after its last progress.
    const stalled = new TranscriptionFeed(recording(30), supervisor);
    const t0 = performance.now();
    await expect(stalled.finish(400)).rejects.toThrow('made no progress for 400 ms');
    expect(performance.now() - t0).toBeLessThan(2000);
    stalled.dispose();

    // Stopped from outside while finishing (a cancelled job): finish ends at
    // once instead of waiting out its timeout.
    const cancelled = new TranscriptionFeed(recording(30), supervisor);
    const finishing = cancelled.finish(60_000);
    const t1 = performance.now();
    await supervisor.stop({ now: true });
    await expect(finishing).rejects.toThrow('stopped before it finished');
    expect(performance.now() - t1).toBeLessThan(2000);
    cancelled.dispose();
    await supervisor.stop();
    supervisor.dispose();
    for (const h of hosts) h.dispose();
  });

  it('reads only what the recording has written so far, and follows it as it grows', async () => {
    const { supervisor, hosts } = await startWith();
    const source = recording(6);
    source.written = 2 * RATE;
    const feed = new TranscriptionFeed(source, supervisor);
    const host = hosts[0]!;
    const sent = () => host.received.reduce((n, c) => n + c.length, 0);
    await until(() => sent() >= 2 * 16_000 - 100);
    await new Promise((r) => setTimeout(r, 300));
    expect(sent()).toBeLessThanOrEqual(2 * 16_000);
    source.written = 6 * RATE;
    await feed.finish();
    expect(expectContiguous(host.received, 0)).toBe(6 * 16_000);
    feed.dispose();
    await supervisor.stop();
    supervisor.dispose();
    for (const h of hosts) h.dispose();
  });

  it('after a host crash, the new host gets the audio from the commit point on: no gap, no duplicate', async () => {
    const committed = 3 * 16_000;
    // The first host commits only the first 3 s (its utterance after that was
    // still open when it died); the next one commits everything.
    const { supervisor, hosts } = await startWith((index) =>
      index === 0 ? new ScriptedHost({ commitUpTo: committed }) : new ScriptedHost(),
    );
    const source = recording(8);
    const feed = new TranscriptionFeed(source, supervisor);
    const first = hosts[0]!;
    await until(() => first.received.reduce((n, c) => n + c.length, 0) >= 8 * 16_000 - 100);
    expect(feed.committedSample).toBe(committed);
    const ready = new Promise<void>((resolve) => {
      const sub = supervisor.onDidBecomeReady(() => {
        sub.dispose();
        resolve();
      });
    });
    supervisor.killCurrentHost();
    await ready;
    await feed.finish();
    const second = hosts[1]!;
    expect(second.received[0]!.startSample).toBe(committed);
    expect(expectContiguous(second.received, committed)).toBe(8 * 16_000);
    feed.dispose();
    await supervisor.stop();
    supervisor.dispose();
    for (const h of hosts) h.dispose();
  });

  it('send/ack/flush does not leak (1x/10x/100x)', async () => {
    const source = recording(2);
    const report = await measureLeak(async () => {
      const { supervisor, hosts } = await startWith();
      const feed = new TranscriptionFeed(source, supervisor);
      await feed.finish();
      feed.dispose();
      await supervisor.stop();
      supervisor.dispose();
      for (const h of hosts) h.dispose();
    });
    assertNoLeak(report);
  });
});
