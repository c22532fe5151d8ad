import { afterEach, beforeEach, expect, it } from 'vitest';
import { FAKE_APP_INFO, FakeBackend, sampleEvents } from '../../testing/fake-backend';
import { assertNoLeak, measureLeak } from '../../testing/leak';
import { startTestServer } from '../../testing/test-server';
import { TestSocket } from '../../testing/ws-test-client';
import { StenoServer } from './steno-server';

let backend: FakeBackend;
let server: StenoServer;
let closeServer: () => Promise<void>;

beforeEach(async () => {
  backend = new FakeBackend({ appInfo: () => FAKE_APP_INFO });
  ({ server, close: closeServer } = await startTestServer(backend, 'steno-serve-leak-'));
});

afterEach(async () => {
  await closeServer();
  backend.dispose();
});

it('keeps nothing of a client that connected, called, got events and left (1, 10, 100 times)', async () => {
  const gone = () =>
    new Promise<void>((resolve) => {
      const subscription = server.onDidDisconnectClient(() => {
        subscription.dispose();
        resolve();
      });
    });
  const connectAndLeave = async () => {
    const socket = await TestSocket.welcomed(server.apiUrl);
    await socket.call(1, 'appInfo');
    const segment = socket.next((m) => m.type === 'event' && m.event.type === 'transcript.segment');
    backend.fire(sampleEvents.level(-30));
    backend.fire(sampleEvents.segment(1, 'a line of the transcript'));
    await segment;
    const left = gone();
    await socket.close();
    await left;
  };
  for (let i = 0; i < 300; i++) await connectAndLeave();
  expect(server.clientCount).toBe(0);
  // 2 KiB per connection: a bare http + ws server and client show 300-400 B per connection
  // in this window (Node keeps some per-socket state for about 30 s; over 3,000 connections
  // the slope was ~100 B and fell back below the start after 30 s), while keeping one
  // client's queue (1024 slots, 8 KiB) or any message buffer would be far above it.
  // One retry: on a shared machine a JIT or GC step sometimes lands inside the 10 -> 100
  // window; a real per-connection retention fails both runs.
  try {
    const report = await measureLeak(connectAndLeave);
    console.log('leak report:', JSON.stringify(report));
    assertNoLeak(report, 2048);
  } catch {
    const report = await measureLeak(connectAndLeave);
    console.log('leak report (retry):', JSON.stringify(report));
    assertNoLeak(report, 2048);
  }
  expect(server.clientCount).toBe(0);
});
