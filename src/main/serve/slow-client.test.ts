/**
 * A client that stops reading must not grow the server's memory: it is sent
 * away with CLIENT_TOO_SLOW while a client that reads gets every event that
 * is never coalesced.
 */
import type { Socket } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { COALESCED_EVENTS, type StenoEvent } from '../../core/api/events';
import type { ServerMessage } from '../../core/api/wire';
import { FakeBackend, sampleEvents } from '../../testing/fake-backend';
import { startTestServer } from '../../testing/test-server';
import { TestSocket } from '../../testing/ws-test-client';
import { StenoServer, type ClientDisconnected } from './steno-server';

let backend: FakeBackend;
let server: StenoServer;
let closeServer: () => Promise<void>;

beforeEach(async () => {
  backend = new FakeBackend();
  ({ server, close: closeServer } = await startTestServer(backend, 'steno-serve-slow-'));
});

afterEach(async () => {
  await closeServer();
  backend.dispose();
});

/**
 * The heavy stream: per 20 events 9 progress, 9 level, 1 metrics and one
 * segment of 8,000 characters. 100,000 events carry 5,000 segments (40 MB of
 * text): 25 times the segments and 7 times the progress of 10 real minutes
 * (10/s progress, 10/s level, 1/s metrics, a segment every 3 s).
 */
const EVENTS = 100_000;
/** Events before the baseline: long enough for the allocator and JIT to reach their steady state. */
const WARM_UP = 40_000;
function heavyEvent(i: number): StenoEvent {
  const k = i % 20;
  if (k < 9) return sampleEvents.progress(i / 10);
  if (k < 18) return sampleEvents.level(-60 + (i % 50));
  if (k === 18) return sampleEvents.metrics(1_700_000_000_000 + i);
  const n = (i - 19) / 20;
  return sampleEvents.segment(n, `segment ${n} `.padEnd(8000, 'lorem ipsum '));
}

function rssAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('this test needs --expose-gc (vitest.config.ts passes it)');
  gc();
  gc();
  return process.memoryUsage().rss;
}

const tick = () => new Promise((r) => setImmediate(r));

it('sends a client that stops reading away, keeps memory flat, and serves the others fully', async () => {
  const normal = await TestSocket.welcomed(server.apiUrl);
  normal.keepMessages = false;
  const segmentIds: number[] = [];
  normal.ws.on('message', (data) => {
    const m = JSON.parse((data as Buffer).toString('utf8')) as ServerMessage;
    if (m.type === 'event' && m.event.type === 'transcript.segment')
      segmentIds.push(m.event.segment.id);
  });

  let fired = 0;
  let firedNonCoalesced = 0;
  const fire = async (count: number) => {
    for (let end = fired + count; fired < end;) {
      for (let b = 0; b < 400 && fired < end; b++, fired++) {
        const event = heavyEvent(fired);
        if (!COALESCED_EVENTS.has(event.type)) firedNonCoalesced++;
        backend.fire(event);
      }
      // The producer stands in for real time, which is far slower than this: it waits
      // while the reading client is more than a few hundred messages behind.
      await tick();
      while (firedNonCoalesced - normal.count('transcript.segment') > 300) {
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  };

  // Warm-up, so JIT and pools are not counted as growth.
  await fire(WARM_UP);
  const baseline = rssAfterGc();

  const slow = await TestSocket.welcomed(server.apiUrl);
  slow.keepMessages = false;
  const slowSocket = (slow.ws as unknown as { _socket: Socket })._socket;
  slowSocket.pause();
  let sentAway: ClientDisconnected | null = null;
  let rssAtSendAway = 0;
  const subscription = server.onDidDisconnectClient((d) => {
    if (sentAway) return;
    sentAway = d;
    rssAtSendAway = rssAfterGc();
    // Reading again lets the queued bytes, then the bye, through.
    slowSocket.resume();
  });
  const slowBye = slow.next((m) => m.type === 'bye', 60_000);

  await fire(EVENTS);
  const bye = await slowBye;
  const closed = await slow.closed;
  const rssAfter = rssAfterGc();
  subscription.dispose();

  // The slow client: told why, then closed.
  expect(sentAway).not.toBeNull();
  expect(sentAway!.bye?.code).toBe('CLIENT_TOO_SLOW');
  expect(bye.type === 'bye' && bye.error.code).toBe('CLIENT_TOO_SLOW');
  expect(bye.type === 'bye' && bye.error.action).toMatch(/reconnects to resynchronise/);
  expect(closed.code).toBe(4000);
  expect(slow.count('transcript.segment')).toBeLessThan(EVENTS / 20);

  // The reading client: every segment, in order, once.
  await normal.call(1, 'noSuchCommand');
  const totalSegments = (WARM_UP + EVENTS) / 20;
  expect(normal.count('transcript.segment')).toBe(totalSegments);
  expect(segmentIds).toEqual(Array.from({ length: totalSegments }, (_, i) => i));
  expect(normal.count('error')).toBe(0);
  expect(server.clientCount).toBe(1);

  const growthMb = (Math.max(rssAtSendAway, rssAfter) - baseline) / 2 ** 20;
  console.log(
    `slow client: RSS baseline ${(baseline / 2 ** 20).toFixed(1)} MB, ` +
      `at send-away +${((rssAtSendAway - baseline) / 2 ** 20).toFixed(1)} MB, ` +
      `after +${((rssAfter - baseline) / 2 ** 20).toFixed(1)} MB; ` +
      `slow client got ${slow.count('transcript.segment')} of ${totalSegments} segments`,
  );
  expect(growthMb).toBeLessThanOrEqual(10);
  await normal.close();
});
