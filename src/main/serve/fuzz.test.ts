/**
 * Two runs over a real WebSocket.
 *
 * Against a fake backend (which accepts any params), 10,000 random and
 * mutated messages. After each one a
 * fence (a valid call) shows what the server made of it: exactly the reply
 * the protocol promises (an error reply when the message carries a usable
 * id, nothing otherwise), or the close a broken frame earns. Nothing may
 * reach onUnexpectedError (the test setup fails the test if it does), and the
 * server still answers at the end.
 *
 * Against a real StenoService (synthetic microphone, scripted model host),
 * 3,000 well-formed calls with mutated params, so the dispatcher's checks
 * are fuzzed through the server too: params the schema refuses get an
 * INVALID_PAYLOAD reply, the rest a reply whose result passes its schema.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COMMAND_NAMES, COMMANDS, type CommandName } from '../../core/api/commands';
import { API_VERSION } from '../../core/api/version';
import {
  ClientMessageSchema,
  MAX_CLIENT_FRAME_BYTES,
  ServerMessageSchema,
  type ServerMessage,
} from '../../core/api/wire';
import { mulberry32 } from '../../core/prng';
import { FAKE_APP_INFO, FakeBackend } from '../../testing/fake-backend';
import { makeServiceFixture } from '../../testing/service-fixture';
import { startTestServer } from '../../testing/test-server';
import { TestSocket } from '../../testing/ws-test-client';
import { StenoServer } from './steno-server';

type Payload = { data: string | Buffer; binary: boolean; kind: string };

const rand = mulberry32(20261123);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '😀',
  '"',
  '\\',
  '__proto__',
  'constructor',
  'hello',
  'call',
  'event',
  'NaN',
  '-1',
  '1e309',
];
const ODD_NUMBERS = [
  0,
  -0,
  -1,
  1.5,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  1e300,
  -1e300,
  API_VERSION,
  API_VERSION + 1,
  2 ** 31,
];

function randomString(max: number): string {
  if (rand() < 0.3) return pick(ODD_STRINGS);
  let s = '';
  const n = int(max);
  for (let i = 0; i < n; i++) s += String.fromCharCode(rand() < 0.8 ? 32 + int(95) : int(0x10000));
  return s;
}

function randomJson(depth: number): unknown {
  const r = int(depth <= 0 ? 5 : 8);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return rand() < 0.5 ? pick(ODD_NUMBERS) : (rand() - 0.5) * 10 ** int(20);
    case 3:
    case 4:
      return randomString(40);
    case 5:
    case 6: {
      const o: Record<string, unknown> = {};
      for (let i = int(5); i > 0; i--)
        o[
          rand() < 0.5
            ? pick(['type', 'request', 'id', 'command', 'params', 'apiVersion'])
            : randomString(10)
        ] = randomJson(depth - 1);
      return o;
    }
    default:
      return Array.from({ length: int(5) }, () => randomJson(depth - 1));
  }
}

function validMessage(): Record<string, unknown> {
  if (rand() < 0.2) return { type: 'hello', apiVersion: API_VERSION };
  const command = rand() < 0.8 ? pick(COMMAND_NAMES) : randomString(20);
  return {
    type: 'call',
    request: { id: int(1_000_000), command, params: rand() < 0.5 ? {} : randomJson(2) },
  };
}

/** Every (parent, key) in a JSON tree, so a mutation can hit any depth. */
function slots(value: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([value, i]);
      slots(v, out);
    });
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push([value as Record<string, unknown>, k]);
      slots(v, out);
    }
  }
  return out;
}

function mutated(): unknown {
  const message: unknown = validMessage();
  for (let m = 1 + int(3); m > 0; m--) {
    const all = slots(message);
    if (all.length === 0) break;
    const [parent, key] = pick(all);
    const op = int(5);
    const p = parent as Record<string | number, unknown>;
    if (op === 0 && !Array.isArray(parent)) delete p[key];
    else if (op === 1) p[key] = randomJson(2);
    else if (op === 2) p[key] = pick([null, true, '1', [], {}, -1, 1.5, 2 ** 60]);
    else if (op === 3) p[randomString(8)] = randomJson(1);
    else p[key] = [p[key]];
  }
  return message;
}

function nested(depth: number, call: boolean): string {
  const inner = '['.repeat(depth) + ']'.repeat(depth);
  return call
    ? `{"type":"call","request":{"id":${int(1000)},"command":"appInfo","params":${inner}}}`
    : rand() < 0.5
      ? inner
      : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

function payload(i: number): Payload {
  // A few payloads of each rare kind, spread through the run.
  if (i % 997 === 5)
    return {
      kind: 'invalid-utf8',
      binary: false,
      data: Buffer.from([0x7b, 0xff, 0xfe, 0xc0, 0x80]),
    };
  if (i % 1999 === 7)
    return { kind: 'oversize', binary: false, data: 'x'.repeat(MAX_CLIENT_FRAME_BYTES + 1) };
  if (i % 499 === 11) {
    const big = 'y'.repeat(900_000);
    return {
      kind: 'huge-string',
      binary: false,
      data: JSON.stringify(
        rand() < 0.5
          ? { type: 'call', request: { id: 3, command: big } }
          : { type: 'call', request: { id: 4, command: 'appInfo', params: { big } } },
      ),
    };
  }
  if (i % 331 === 13)
    return { kind: 'deep', binary: false, data: nested(10_000 + int(40_000), rand() < 0.5) };
  const r = int(10);
  if (r === 0)
    return {
      kind: 'binary',
      binary: true,
      data: Buffer.from(Array.from({ length: int(200) }, () => int(256))),
    };
  if (r === 1) return { kind: 'text', binary: false, data: randomString(200) };
  if (r <= 3) return { kind: 'json', binary: false, data: JSON.stringify(randomJson(4)) };
  if (r === 4) return { kind: 'valid', binary: false, data: JSON.stringify(validMessage()) };
  return { kind: 'mutated', binary: false, data: JSON.stringify(mutated()) };
}

/** What the protocol promises for `p` in a connection that has (or has not yet) said hello. */
type Expectation =
  | { kind: 'nothing' }
  | { kind: 'reply'; id: number; ok: boolean | null }
  | { kind: 'welcome' }
  | { kind: 'bye'; code: string }
  | { kind: 'close'; code: number };

function expectationFor(p: Payload, welcomed: boolean): Expectation {
  if (p.binary) return { kind: 'nothing' };
  if (p.kind === 'invalid-utf8') return { kind: 'close', code: 1007 };
  if (Buffer.byteLength(p.data) > MAX_CLIENT_FRAME_BYTES) return { kind: 'close', code: 1009 };
  let json: unknown;
  try {
    json = JSON.parse(String(p.data));
  } catch {
    return { kind: 'nothing' };
  }
  const parsed = ClientMessageSchema.safeParse(json);
  if (!parsed.success) {
    const id = (json as { request?: { id?: unknown } } | null)?.request?.id;
    const usable = typeof id === 'number' && Number.isSafeInteger(id) && id >= 0;
    return usable ? { kind: 'reply', id, ok: false } : { kind: 'nothing' };
  }
  const m = parsed.data;
  if (m.type === 'hello') {
    if (welcomed) return { kind: 'nothing' };
    return m.apiVersion === API_VERSION
      ? { kind: 'welcome' }
      : { kind: 'bye', code: 'API_VERSION_MISMATCH' };
  }
  return welcomed
    ? { kind: 'reply', id: m.request.id, ok: null }
    : { kind: 'reply', id: m.request.id, ok: false };
}

const FENCE_BASE = 2 ** 52;

describe('against a fake backend', () => {
  let backend: FakeBackend;
  let server: StenoServer;
  let closeServer: () => Promise<void>;

  beforeEach(async () => {
    backend = new FakeBackend({
      appInfo: () => FAKE_APP_INFO,
      getState: () => backend.state,
    });
    ({ server, close: closeServer } = await startTestServer(backend, 'steno-serve-fuzz-'));
  });

  afterEach(async () => {
    await closeServer();
    backend.dispose();
  });

  it('answers or ignores 10,000 random and mutated messages and stays up', async () => {
    let socket = await TestSocket.open(server.apiUrl);
    let welcomed = false;
    let fence = 0;
    let seen = 0;
    let sinceConnect = 0;
    const outcomes = new Map<string, number>();
    const note = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

    const reconnect = async () => {
      await socket.close();
      socket = await TestSocket.open(server.apiUrl);
      welcomed = false;
      seen = 0;
      sinceConnect = 0;
    };

    for (let i = 0; i < 10_000; i++) {
      // Every 200 payloads (and after every close) a fresh connection, so messages before
      // the hello are fuzzed too; after three of those the hello is said properly.
      if (i > 0 && i % 200 === 0) await reconnect();
      if (!welcomed && sinceConnect === 3) {
        const state = socket.next((m) => m.type === 'event' && m.event.type === 'state');
        socket.send({ type: 'hello', apiVersion: API_VERSION });
        await state;
        welcomed = true;
        seen = socket.received.length;
      }

      sinceConnect++;
      const p = payload(i);
      const expected = expectationFor(p, welcomed);
      socket.sendRaw(p.data, p.binary);
      if (expected.kind === 'close' || expected.kind === 'bye') {
        const closed = await socket.closed;
        if (expected.kind === 'close') expect(closed.code, `${i} ${p.kind}`).toBe(expected.code);
        else {
          const bye = socket.received.slice(seen).find((m) => m.type === 'bye');
          expect(bye && bye.type === 'bye' && bye.error.code, `${i}`).toBe(expected.code);
        }
        note(expected.kind === 'close' ? `closed ${expected.code}` : `bye ${expected.code}`);
        await reconnect();
        continue;
      }

      const fenceId = FENCE_BASE + fence++;
      const fenceReply = socket.next((m) => m.type === 'reply' && m.reply.id === fenceId);
      const late =
        expected.kind === 'reply'
          ? socket.next((m) => m.type === 'reply' && m.reply.id === expected.id)
          : null;
      socket.send({ type: 'call', request: { id: fenceId, command: 'appInfo', params: {} } });
      await fenceReply;
      if (late) await late;
      if (expected.kind === 'welcome') welcomed = true;

      const answers = socket.received
        .slice(seen)
        .filter((m) => !(m.type === 'reply' && m.reply.id === fenceId));
      seen = socket.received.length;
      const describe = `${i} ${p.kind}: ${String(p.data).slice(0, 200)}`;
      switch (expected.kind) {
        case 'nothing':
          expect(answers, describe).toEqual([]);
          note('ignored');
          break;
        case 'welcome':
          expect(
            answers.map((m) => (m.type === 'event' ? m.event.type : m.type)),
            describe,
          ).toEqual(['welcome', 'state']);
          note('welcomed');
          break;
        case 'reply': {
          expect(answers.length, describe).toBe(1);
          const a = answers[0] as ServerMessage;
          expect(a.type === 'reply' && a.reply.id === expected.id, describe).toBe(true);
          if (a.type === 'reply' && expected.ok === false) {
            expect(a.reply.ok, describe).toBe(false);
            if (!a.reply.ok) expect(a.reply.error.code, describe).toBe('INVALID_PAYLOAD');
          }
          note(a.type === 'reply' && a.reply.ok ? 'ok reply' : 'error reply');
          break;
        }
      }
    }

    for (const m of socket.received) expect(ServerMessageSchema.safeParse(m).success).toBe(true);
    await socket.close();

    const last = await TestSocket.welcomed(server.apiUrl);
    expect(await last.call(1, 'appInfo')).toEqual({
      type: 'reply',
      reply: { id: 1, ok: true, result: FAKE_APP_INFO },
    });
    await last.close();
    console.log('fuzz outcomes:', Object.fromEntries(outcomes));
    // The run exercised every kind of outcome, not just one.
    for (const kind of [
      'ignored',
      'error reply',
      'ok reply',
      'welcomed',
      'closed 1007',
      'closed 1009',
    ]) {
      expect(outcomes.get(kind) ?? 0, kind).toBeGreaterThan(0);
    }
  });
});

/** Params each command accepts, as the starting point of its mutations. */
const VALID_PARAMS: Record<CommandName, Record<string, unknown>> = {
  appInfo: {},
  getState: {},
  listDevices: {},
  startRecording: { deviceId: 0 },
  pauseRecording: {},
  resumeRecording: {},
  stopRecording: {},
  listRecordings: { offset: 0, limit: 10 },
  getRecording: { id: '2026-01-01_10-00-00' },
  deleteRecording: { id: '2026-01-01_10-00-00', confirm: true },
  getTranscript: { id: '2026-01-01_10-00-00', offset: 0, limit: 10 },
  renameSpeaker: { id: '2026-01-01_10-00-00', speaker: 0, name: 'Ada' },
  getSettings: {},
  setSettings: { settings: { partials: false, autoStopAfterHours: 2 } },
  unloadModels: {},
  addJobs: { paths: ['/tmp/meeting.mp3'], language: 'en', copySource: false },
  listJobs: {},
  cancelJob: { id: '20260101-100000-abcdef' },
  retryJob: { id: '20260101-100000-abcdef' },
  removeJob: { id: '20260101-100000-abcdef' },
};

/** A command's valid params with one to three mutations anywhere in them (or none of them at all). */
function mutatedParams(command: CommandName): unknown {
  if (rand() < 0.1) return randomJson(3);
  const holder: { params: unknown } = { params: structuredClone(VALID_PARAMS[command]) };
  for (let m = 1 + int(3); m > 0; m--) {
    const all = slots(holder);
    const [parent, key] = pick(all);
    const p = parent as Record<string | number, unknown>;
    const op = int(6);
    if (op === 0 && !Array.isArray(parent) && parent !== holder) delete p[key];
    else if (op === 1) p[key] = randomJson(2);
    else if (op === 2)
      p[key] = pick([
        null,
        true,
        '1',
        '',
        [],
        {},
        -1,
        1.5,
        2 ** 60,
        NaN,
        '../..',
        'x'.repeat(5000),
      ]);
    else if (op === 3 && typeof p[key] === 'object' && p[key] !== null && !Array.isArray(p[key]))
      (p[key] as Record<string, unknown>)[randomString(8)] = randomJson(1);
    else if (op === 4)
      p[key] = typeof p[key] === 'number' ? -(p[key] as number) - 1 : randomString(30);
    else p[key] = [p[key]];
  }
  return holder.params;
}

describe('against a real StenoService', () => {
  it('answers 3,000 calls with mutated params, refusing the invalid ones, and stays up', async () => {
    const fixture = await makeServiceFixture();
    const { server: realServer, close: closeRealServer } = await startTestServer(fixture.service);
    const outcomes = new Map<string, number>();
    const note = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    try {
      const socket = await TestSocket.welcomed(realServer.apiUrl);
      socket.keepMessages = false;
      for (let i = 0; i < 3_000; i++) {
        const command = pick(COMMAND_NAMES);
        const params = mutatedParams(command);
        // What the dispatcher sees: JSON drops what it cannot carry (NaN becomes null).
        const sent: unknown = JSON.parse(JSON.stringify({ params }) ?? '{}').params;
        const valid = COMMANDS[command].params.safeParse(sent ?? {}).success;
        const id = i + 1;
        const answer = socket.next((m) => m.type === 'reply' && m.reply.id === id, 15_000);
        socket.send({ type: 'call', request: { id, command, params } });
        const m = await answer;
        if (m.type !== 'reply') throw new Error('not a reply');
        const what = `${i} ${command} ${JSON.stringify(params).slice(0, 300)}`;
        expect(ServerMessageSchema.safeParse(m).success, what).toBe(true);
        if (!valid) {
          expect(m.reply.ok, what).toBe(false);
          if (!m.reply.ok) expect(m.reply.error.code, what).toBe('INVALID_PAYLOAD');
          note('invalid params refused');
        } else if (m.reply.ok) {
          expect(COMMANDS[command].result.safeParse(m.reply.result).success, what).toBe(true);
          note('valid params ok');
        } else {
          note(`valid params ${m.reply.error.code}`);
        }
      }
      const state = await socket.call(1_000_000, 'getState');
      expect(state.type === 'reply' && state.reply.ok, 'a valid call at the end').toBe(true);
      await socket.close();
    } finally {
      await closeRealServer();
      await fixture.dispose();
    }
    console.log('real-service fuzz outcomes:', Object.fromEntries(outcomes));
    expect(outcomes.get('invalid params refused') ?? 0).toBeGreaterThan(1_500);
    expect(outcomes.get('valid params ok') ?? 0).toBeGreaterThan(0);
  });
});
