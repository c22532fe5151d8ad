import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StenoEvent } from '../../core/api/events';
import { API_VERSION } from '../../core/api/version';
import { isStenoError, StenoError } from '../../core/errors';
import { StenoServer } from '../../main/serve/steno-server';
import { FAKE_APP_INFO, FAKE_STATE, FakeBackend, sampleEvents } from '../../testing/fake-backend';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import {
  createWebSocketClient,
  type ConnectionStatus,
  type WebSocketConstructor,
  type WebSocketStenoClient,
} from './websocket-transport';

const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

function until(test: () => boolean, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (test()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error('condition not met in time'));
      setTimeout(check, 5);
    };
    check();
  });
}

async function rejection(p: Promise<unknown>): Promise<StenoError> {
  try {
    await p;
  } catch (e) {
    if (isStenoError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

function watch(client: WebSocketStenoClient) {
  const events: StenoEvent[] = [];
  const statuses: ConnectionStatus[] = [];
  const offEvents = client.onEvent((e) => events.push(e));
  const offStatus = client.onStatus((s) => statuses.push(s));
  return { events, statuses, stop: () => (offEvents(), offStatus()) };
}

describe('against steno serve', () => {
  let dir: string;
  let backend: FakeBackend;
  let server: StenoServer;
  let client: WebSocketStenoClient;
  /** Handlers that wait for the test; released in afterEach. */
  const held: (() => void)[] = [];

  beforeEach(async () => {
    dir = makeTempDir('steno-ws-transport-');
    fs.mkdirSync(path.join(dir, 'renderer'));
    backend = new FakeBackend({
      appInfo: () => FAKE_APP_INFO,
      getState: () => backend.state,
      // Answers after `params.delayMs`, so replies come back out of order.
      listDevices: async (params) => {
        const { delayMs, name } = params as { delayMs: number; name: string };
        await new Promise((r) => setTimeout(r, delayMs));
        return [
          { id: delayMs, name, maxInputChannels: 1, defaultSampleRate: 48000, hostApi: 'test' },
        ];
      },
      // A result that breaks the schema.
      getSettings: () => ({ language: 42 }),
      // Never answers until the test releases it.
      stopRecording: () => new Promise((resolve) => held.push(() => resolve(null))),
    });
    server = await StenoServer.start({ backend, rendererDir: path.join(dir, 'renderer') });
  });

  afterEach(async () => {
    client?.dispose();
    for (const release of held.splice(0)) release();
    await server.close();
    server.dispose();
    backend.dispose();
    removeTempDir(dir);
  });

  const connect = (options: Partial<Parameters<typeof createWebSocketClient>[0]> = {}) => {
    client = createWebSocketClient({ url: server.apiUrl, WebSocket: NodeWebSocket, ...options });
    return client;
  };

  it('connects, gets the state, and pairs each reply with its call', async () => {
    const c = connect();
    const seen = watch(c);
    // Made while connecting: sent once the welcome arrives.
    const info = c.appInfo({});
    const calls = [30, 1, 15, 5].map((delayMs) =>
      c.listDevices({ delayMs, name: `device ${delayMs}` } as never),
    );
    expect(await info).toEqual(FAKE_APP_INFO);
    const results = await Promise.all(calls);
    expect(results.map((r) => r[0]?.name)).toEqual([
      'device 30',
      'device 1',
      'device 15',
      'device 5',
    ]);
    expect(seen.events[0]).toEqual({ type: 'state', state: FAKE_STATE });
    expect(seen.statuses.map((s) => s.state)).toContain('open');
    expect(c.transport.pendingCalls).toBe(0);
    seen.stop();
  });

  it('rejects a malformed result and an error reply as StenoErrors', async () => {
    const c = connect();
    const bad = await rejection(c.getSettings({}));
    expect(bad.code).toBe('INVALID_PAYLOAD');
    expect(bad.message).toMatch(/getSettings/);
    const missing = await rejection(c.listRecordings({}));
    expect(missing.code).toBe('UNKNOWN_COMMAND');
  });

  it('drops malformed events, counts them, and delivers the valid ones', async () => {
    const c = connect();
    const seen = watch(c);
    await c.appInfo({});
    backend.fire({ type: 'metrics', metrics: { at: 'now' } } as unknown as StenoEvent);
    backend.fire({ type: 'no.such.event' } as unknown as StenoEvent);
    backend.fire(sampleEvents.segment(3, 'kept'));
    await until(() => seen.events.some((e) => e.type === 'transcript.segment'));
    expect(c.transport.droppedEvents).toBe(2);
    expect(seen.events.map((e) => e.type)).toEqual(['state', 'transcript.segment']);
    seen.stop();
  });

  it('rejects pending calls with the bye when the connection closes', async () => {
    const c = connect();
    const seen = watch(c);
    await c.appInfo({});
    const pending = rejection(c.stopRecording({}));
    await until(() => held.length === 1);
    await server.close();
    const error = await pending;
    expect(error.code).toBe('INVALID_STATE');
    expect(error.message).toMatch(/stopped serving/);
    const closed = seen.statuses.find((s) => s.state === 'closed');
    expect(closed && closed.state === 'closed' && closed.reason?.message).toMatch(
      /stopped serving/,
    );
    // A call while closed is refused at once, not queued.
    expect((await rejection(c.appInfo({}))).message).toMatch(/not connected/);
    seen.stop();
  });

  it('bounds the calls waiting for replies and times them out', async () => {
    const c = connect({ maxPendingCalls: 2, callTimeoutMs: 200 });
    await c.appInfo({});
    const first = rejection(c.stopRecording({}));
    const second = rejection(c.stopRecording({}));
    const third = await rejection(c.stopRecording({}));
    expect(third.message).toMatch(/2 calls/);
    const timedOut = await first;
    expect(timedOut.message).toMatch(/did not answer stopRecording/);
    expect((await second).message).toMatch(/did not answer/);
    expect(c.transport.pendingCalls).toBe(0);
  });

  it('rejects pending calls when the window disposes the client', async () => {
    const c = connect();
    await c.appInfo({});
    const pending = rejection(c.stopRecording({}));
    c.dispose();
    expect((await pending).message).toMatch(/closed its connection/);
  });
});

describe('against a scripted server', () => {
  let wss: WebSocketServer;
  let url: string;
  let sockets: WebSocket[];
  let script: (ws: WebSocket, hello: unknown) => void;
  let client: WebSocketStenoClient | null;

  beforeEach(async () => {
    sockets = [];
    client = null;
    script = (ws) => {
      ws.send(JSON.stringify({ type: 'welcome', apiVersion: API_VERSION }));
      ws.send(JSON.stringify({ type: 'event', event: { type: 'state', state: FAKE_STATE } }));
    };
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/api`;
    wss.on('connection', (ws) => {
      sockets.push(ws);
      ws.once('message', (data) => script(ws, JSON.parse(String(data))));
    });
  });

  afterEach(async () => {
    client?.dispose();
    for (const ws of sockets) ws.terminate();
    await new Promise((r) => wss.close(r));
  });

  const connect = () => {
    client = createWebSocketClient({
      url,
      WebSocket: NodeWebSocket,
      reconnectInitialMs: 10,
      reconnectMaxMs: 40,
      random: () => 0.5,
    });
    return client;
  };

  it('says hello with its API version first', async () => {
    let hello: unknown = null;
    const original = script;
    script = (ws, h) => {
      hello = h;
      original(ws, h);
    };
    const c = connect();
    await until(() => c.transport.status.state === 'open');
    expect(hello).toEqual({ type: 'hello', apiVersion: API_VERSION });
  });

  it('reconnects after the connection breaks, and resynchronises from the state', async () => {
    const c = connect();
    const seen = watch(c);
    await until(() => seen.events.length === 1);
    sockets[0]!.terminate();
    await until(() => seen.events.length === 2);
    expect(sockets.length).toBe(2);
    expect(seen.events.map((e) => e.type)).toEqual(['state', 'state']);
    expect(seen.statuses.map((s) => s.state)).toEqual(['open', 'closed', 'connecting', 'open']);
    const closed = seen.statuses[1] as Extract<ConnectionStatus, { state: 'closed' }>;
    expect(closed.reason).toBeNull();
    expect(closed.reconnectInMs).toBeGreaterThan(0);
    seen.stop();
  });

  it('keeps retrying with growing delays while the server refuses', async () => {
    const c = connect();
    const seen = watch(c);
    await until(() => c.transport.status.state === 'open');
    // From now on every connection is dropped before its welcome.
    script = (ws) => ws.terminate();
    sockets[0]!.terminate();
    await until(() => seen.statuses.filter((s) => s.state === 'closed').length >= 4);
    const delays = seen.statuses.flatMap((s) => (s.state === 'closed' ? [s.reconnectInMs] : []));
    expect(delays.slice(0, 4)).toEqual([8, 15, 30, 30]);
    seen.stop();
  });

  it('drops malformed server messages, never throwing', async () => {
    script = (ws) => {
      ws.send('not json');
      ws.send(Buffer.from([1, 2, 3]), { binary: true });
      ws.send(JSON.stringify({ type: 'reply', reply: { id: 999, ok: true, result: 1 } }));
      ws.send(JSON.stringify({ type: 'welcome' }));
      ws.send(JSON.stringify({ type: 'bye', error: { code: 'NOPE' } }));
      ws.send(JSON.stringify([1, 2]));
      ws.send(JSON.stringify({ type: 'event', event: { type: 'state' } }));
      ws.send(JSON.stringify({ type: 'welcome', apiVersion: API_VERSION }));
      ws.send(JSON.stringify({ type: 'event', event: { type: 'state', state: FAKE_STATE } }));
    };
    const c = connect();
    const seen = watch(c);
    await until(() => seen.events.length === 1);
    expect(c.transport.droppedMessages).toBe(7);
    expect(c.transport.droppedEvents).toBe(1);
    seen.stop();
  });

  it('rejects a call at once when its reply is malformed, and keeps the others waiting', async () => {
    const original = script;
    script = (ws, hello) => {
      original(ws, hello);
      const calls: { id: number; command: string }[] = [];
      ws.on('message', (data) => {
        const { request } = JSON.parse(String(data)) as {
          request: { id: number; command: string };
        };
        calls.push(request);
        if (request.command === 'getState') {
          // Not a reply the schema accepts: `ok` must be a boolean.
          ws.send(JSON.stringify({ type: 'reply', reply: { id: request.id, ok: 'yes' } }));
          // Malformed too, but for a call nobody waits for: only dropped.
          ws.send(JSON.stringify({ type: 'reply', reply: { id: 123_456, ok: 'no' } }));
        }
        if (request.command === 'listDevices') {
          ws.send(
            JSON.stringify({
              type: 'reply',
              reply: { id: request.id, ok: false, error: { code: 1 } },
            }),
          );
        }
        if (request.command === 'appInfo' && calls.some((c) => c.command === 'listDevices')) {
          ws.send(
            JSON.stringify({
              type: 'reply',
              reply: { id: request.id, ok: true, result: FAKE_APP_INFO },
            }),
          );
        }
      });
    };
    const c = connect();
    await until(() => c.transport.status.state === 'open');
    const started = Date.now();
    const waiting = c.appInfo({});
    const broken = await rejection(c.getState({}));
    expect(broken.code).toBe('INVALID_PAYLOAD');
    expect(broken.message).toMatch(/reply to getState was malformed/);
    expect(c.transport.pendingCalls).toBe(1);
    const brokenError = await rejection(c.listDevices({}));
    expect(brokenError.code).toBe('INVALID_PAYLOAD');
    expect(brokenError.message).toMatch(/reply to listDevices was malformed/);
    // Far sooner than the 60 s call timeout: the malformed replies ended their calls.
    expect(Date.now() - started).toBeLessThan(5_000);
    // The call still waiting is answered by the next good reply for it.
    const answered = c.appInfo({});
    expect(await answered).toEqual(FAKE_APP_INFO);
    expect(c.transport.pendingCalls).toBe(1);
    expect(c.transport.droppedMessages).toBe(3);
    void waiting.catch(() => {});
  });

  it('stops retrying when the server speaks another API version', async () => {
    script = (ws) => {
      ws.send(
        JSON.stringify({
          type: 'bye',
          error: { code: 'API_VERSION_MISMATCH', message: 'Other version.', action: 'Reload.' },
        }),
      );
      ws.close(4000);
    };
    const c = connect();
    const seen = watch(c);
    await until(() => c.transport.status.state === 'closed');
    const status = c.transport.status as Extract<ConnectionStatus, { state: 'closed' }>;
    expect(status.reason?.code).toBe('API_VERSION_MISMATCH');
    expect(status.reconnectInMs).toBeNull();
    await new Promise((r) => setTimeout(r, 100));
    expect(sockets.length).toBe(1);
    expect((await rejection(c.appInfo({}))).code).toBe('API_VERSION_MISMATCH');
    seen.stop();
  });
});
