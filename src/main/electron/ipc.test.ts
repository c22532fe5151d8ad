import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ApiBackend, CallOutcome } from '../../core/api/backend';
import { COMMAND_NAMES, type CommandName } from '../../core/api/commands';
import type { StenoEvent } from '../../core/api/events';
import { ErrorSchema } from '../../core/api/types';
import { API_VERSION } from '../../core/api/version';
import { ipcCommandChannel, IPC_EVENT_CHANNEL } from '../../core/api/wire';
import type { Event } from '../../core/event';
import {
  setDisposableTracker,
  toDisposable,
  type DisposableTracker,
  type IDisposable,
} from '../../core/lifecycle';
import { mulberry32 } from '../../core/prng';
import { FAKE_APP_INFO, FAKE_STATE, FakeBackend, sampleEvents } from '../../testing/fake-backend';
import {
  FakeApp,
  FakeFrame,
  FakeIpcMain,
  ManualScheduler,
  openWiredWindow,
  type FakeWebContents,
} from '../../testing/fake-electron';
import { assertNoLeak, measureLeak } from '../../testing/leak';
import { dispatchCommand, type CommandHandlers } from '../services/api-dispatcher';
import { registerApiHandlers, type ApiHandlers } from './ipc';
import { resolveRendererLocation } from './renderer-location';

const location = resolveRendererLocation({
  appPath: '/opt/steno',
  isPackaged: true,
  devServerUrl: undefined,
});
const RENDERER_URL = location.url.href;
const trustedFrame = () => new FakeFrame(RENDERER_URL);

const untrustedFrames: [string, FakeFrame | null][] = [
  ['a destroyed or navigated-away frame', null],
  ['a subframe of the renderer', new FakeFrame(RENDERER_URL, trustedFrame())],
  ['a remote page', new FakeFrame('https://attacker.example/index.html')],
  ['another file of the app', new FakeFrame('file:///opt/steno/out/renderer/other.html')],
  ['devtools', new FakeFrame('devtools://devtools/bundled/devtools_app.html')],
];

/** What the preload sends on a command's channel. */
const call = (params: unknown = {}) => ({ apiVersion: API_VERSION, params });

/** Channels that look like ours but name no command: nothing handles them. */
const unhandledChannels = [
  'steno:call',
  'steno:command:',
  'steno:command:nope',
  'steno:command:APPINFO',
  'steno:command:appInfo ',
  'steno:command:__proto__',
  'steno:command:constructor',
  'steno:command:toString',
  IPC_EVENT_CHANNEL,
  '',
];

/** How the renderer's invoke rejects in Electron when no handler has the channel. */
const noHandler = (channel: string) =>
  `Error invoking remote method '${channel}': Error: No handler registered for '${channel}'`;

/** The backend's event subscriptions, counted: what a window's close must give back. */
function countingBackend(inner: FakeBackend): ApiBackend & { readonly subscriptions: number } {
  let subscriptions = 0;
  const onDidEvent: Event<StenoEvent> = (listener) => {
    const subscription = inner.onDidEvent(listener);
    subscriptions++;
    return toDisposable(() => {
      subscriptions--;
      subscription.dispose();
    });
  };
  return {
    call: (command, params) => inner.call(command, params),
    onDidEvent,
    currentState: () => inner.currentState(),
    get subscriptions() {
      return subscriptions;
    },
  };
}

function eventsSent(contents: FakeWebContents): StenoEvent[] {
  for (const [channel] of contents.sent) expect(channel).toBe(IPC_EVENT_CHANNEL);
  return contents.sent.map(([, payload]) => payload as StenoEvent);
}

describe('registerApiHandlers: calls', () => {
  let backend: FakeBackend;
  let ipcMain: FakeIpcMain;
  let handlers: ApiHandlers;
  const seenParams: unknown[] = [];

  beforeEach(() => {
    seenParams.length = 0;
    backend = new FakeBackend({
      appInfo: () => FAKE_APP_INFO,
      startRecording: (params) => {
        seenParams.push(params);
        throw new Error('no microphone in this test');
      },
    });
    ipcMain = new FakeIpcMain();
    handlers = registerApiHandlers(ipcMain, location, backend, new FakeApp());
  });

  afterEach(() => {
    handlers.dispose();
    backend.dispose();
  });

  it('registers exactly one handler per command, each on its own channel, and disposing removes all', async () => {
    const channels = COMMAND_NAMES.map((name) => ipcCommandChannel(name));
    expect(new Set(channels).size).toBe(COMMAND_NAMES.length);
    expect([...ipcMain.registrations].sort()).toEqual([...channels].sort());
    expect([...ipcMain.handlers.keys()].sort()).toEqual([...channels].sort());
    // Each channel calls its own command: a backend that echoes the name it was called with.
    const echo = new FakeBackend(
      Object.fromEntries(COMMAND_NAMES.map((name) => [name, () => ({ name })])),
    );
    const echoIpc = new FakeIpcMain();
    const echoHandlers = registerApiHandlers(echoIpc, location, echo, new FakeApp());
    try {
      for (const name of COMMAND_NAMES) {
        const outcome = await echoIpc.invokeOnChannel(
          ipcCommandChannel(name),
          trustedFrame(),
          call(),
        );
        expect(outcome).toEqual({ ok: true, result: { name } });
      }
      expect(echo.callCount).toBe(COMMAND_NAMES.length);
    } finally {
      echoHandlers.dispose();
      echo.dispose();
    }
    expect(echoIpc.handlers.size).toBe(0);
    handlers.dispose();
    expect(ipcMain.handlers.size).toBe(0);
    for (const channel of channels) {
      await expect(ipcMain.invokeOnChannel(channel, trustedFrame(), call())).rejects.toThrow(
        noHandler(channel),
      );
    }
    expect(backend.callCount).toBe(0);
  });

  it('leaves no handler behind when a channel is already taken', () => {
    const other = new FakeIpcMain();
    const taken = ipcCommandChannel(COMMAND_NAMES[COMMAND_NAMES.length - 1]!);
    const theirs = () => Promise.resolve<CallOutcome>({ ok: true, result: 'theirs' });
    other.handle(taken, theirs);
    const app = new FakeApp();
    expect(() => registerApiHandlers(other, location, backend, app)).toThrow(
      `Attempted to register a second handler for '${taken}'`,
    );
    expect([...other.handlers.entries()]).toEqual([[taken, theirs]]);
    expect(app.listenerCount).toBe(0);
  });

  it('rejects an invoke on a channel that names no command, as Electron does, before the backend', async () => {
    for (const channel of unhandledChannels) {
      for (const frame of [trustedFrame(), null]) {
        await expect(ipcMain.invokeOnChannel(channel, frame, call())).rejects.toThrow(
          noHandler(channel),
        );
      }
    }
    expect(backend.callCount).toBe(0);
  });

  for (const [what, frame] of untrustedFrames) {
    it(`refuses a call from ${what} with UNAUTHORIZED, on every channel, before the backend sees it`, async () => {
      for (const name of COMMAND_NAMES) {
        // A malformed payload too: the sender is checked first.
        for (const payload of [call(), null]) {
          const outcome = await ipcMain.invoke(name, frame, payload);
          expect(outcome, name).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
          expect(ErrorSchema.safeParse((outcome as { error: unknown }).error).success).toBe(true);
        }
      }
      expect(backend.callCount).toBe(0);
    });
  }

  it('refuses another API version, naming both versions, before the backend sees it', async () => {
    for (const name of COMMAND_NAMES) {
      const outcome = await ipcMain.invoke(name, trustedFrame(), {
        ...call(),
        apiVersion: API_VERSION + 1,
      });
      expect(outcome).toMatchObject({ ok: false, error: { code: 'API_VERSION_MISMATCH' } });
      const message = (outcome as { error: { message: string } }).error.message;
      expect(message).toContain(String(API_VERSION + 1));
      expect(message).toContain(String(API_VERSION));
    }
    expect(backend.callCount).toBe(0);
  });

  it('refuses a malformed call and a call with extra arguments as INVALID_PAYLOAD', async () => {
    const malformed = [
      [],
      [null],
      ['appInfo'],
      [{ params: {} }],
      [{ apiVersion: String(API_VERSION), params: {} }],
      [{ apiVersion: API_VERSION + 0.5, params: {} }],
      [call(), 2],
    ];
    for (const args of malformed) {
      const outcome = await ipcMain.invoke('appInfo', trustedFrame(), ...args);
      expect(outcome, JSON.stringify(args)).toMatchObject({
        ok: false,
        error: { code: 'INVALID_PAYLOAD' },
      });
    }
    expect(backend.callCount).toBe(0);
  });

  it("returns the backend's outcome for a valid call, success or failure", async () => {
    expect(await ipcMain.invoke('appInfo', trustedFrame(), call())).toEqual({
      ok: true,
      result: FAKE_APP_INFO,
    });
    const failed = await ipcMain.invoke('startRecording', trustedFrame(), call({ deviceId: 3 }));
    expect(failed).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect((failed as { error: { message: string } }).error.message).toContain(
      'no microphone in this test',
    );
    expect(seenParams).toEqual([{ deviceId: 3 }]);
    expect(backend.callCount).toBe(2);
  });

  it('answers INTERNAL, and does not reject, when the backend breaks its contract', async () => {
    const broken: ApiBackend = {
      call: () => Promise.reject(new Error('x'.repeat(10_000))),
      onDidEvent: backend.onDidEvent,
      currentState: () => FAKE_STATE,
    };
    const brokenIpc = new FakeIpcMain();
    const brokenHandlers = registerApiHandlers(brokenIpc, location, broken, new FakeApp());
    try {
      const outcome = await brokenIpc.invoke('appInfo', trustedFrame(), call());
      expect(outcome).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
      // Cut to what the wire allows, so the window can read it.
      expect(ErrorSchema.safeParse((outcome as { error: unknown }).error).success).toBe(true);
    } finally {
      brokenHandlers.dispose();
    }
  });
});

describe('registerApiHandlers: events', () => {
  let inner: FakeBackend;
  let backend: ReturnType<typeof countingBackend>;
  let app: FakeApp;
  let scheduler: ManualScheduler;
  let handlers: ApiHandlers;

  const register = (options: Parameters<typeof registerApiHandlers>[4] = {}) => {
    handlers = registerApiHandlers(new FakeIpcMain(), location, backend, app, {
      scheduleDrain: scheduler.schedule,
      ...options,
    });
  };

  beforeEach(() => {
    inner = new FakeBackend();
    backend = countingBackend(inner);
    app = new FakeApp();
    scheduler = new ManualScheduler();
  });

  afterEach(() => {
    handlers.dispose();
    inner.dispose();
    expect(backend.subscriptions).toBe(0);
    expect(app.listenerCount).toBe(0);
  });

  it('forwards every event to a trusted window, in order, after a drain', () => {
    register();
    const window = app.open(RENDERER_URL);
    const fired: StenoEvent[] = [];
    for (let i = 0; i < 600; i++) {
      const event = i % 7 === 0 ? sampleEvents.level(-i / 10) : sampleEvents.segment(i, `s${i}`);
      fired.push(event);
      inner.fire(event);
      // Drain now and then, so events are sent in several batches.
      if (i % 250 === 249) scheduler.flush();
    }
    scheduler.flush();
    // Levels fired between two drains coalesce; everything else arrives as fired.
    const sent = eventsSent(window);
    const segmentsFired = fired.filter((e) => e.type === 'transcript.segment');
    expect(sent.filter((e) => e.type === 'transcript.segment')).toEqual(segmentsFired);
    expect(sent.at(-1)).toEqual(fired.at(-1));
  });

  it('coalesces a flood of levels and progress to the latest, and never drops a segment', () => {
    register();
    const window = app.open(RENDERER_URL);
    const segments: StenoEvent[] = [];
    for (let i = 0; i < 20_000; i++) {
      inner.fire(sampleEvents.level(-(i % 600) / 10));
      inner.fire(sampleEvents.progress(i / 10));
      if (i % 40 === 0) {
        const segment = sampleEvents.segment(i / 40, `segment ${i / 40}`);
        segments.push(segment);
        inner.fire(segment);
      }
    }
    scheduler.flush();
    const sent = eventsSent(window);
    expect(sent.filter((e) => e.type === 'transcript.segment')).toEqual(segments);
    const levels = sent.filter((e) => e.type === 'recording.level');
    const progress = sent.filter((e) => e.type === 'recording.progress');
    // One waiting slot per coalesced type: 40,000 events become one of each.
    expect(levels).toEqual([sampleEvents.level(-(19_999 % 600) / 10)]);
    expect(progress).toEqual([sampleEvents.progress(19_999 / 10)]);
    expect(sent.some((e) => e.type === 'state')).toBe(false);
  });

  it('on overflow, throws away what waits and sends one state event instead', () => {
    register({ maxQueuedEvents: 64 });
    const window = app.open(RENDERER_URL);
    inner.state = { ...FAKE_STATE, hostState: 'ready' };
    const fired = Array.from({ length: 200 }, (_, i) => sampleEvents.segment(i, `s${i}`));
    for (const event of fired) inner.fire(event);
    scheduler.flush();
    const sent = eventsSent(window);
    // Nothing drained while 200 arrived: each time 64 waited, the next one
    // overflowed and a state (taken after it) replaced them all.
    expect(sent.length).toBeLessThanOrEqual(64);
    expect(sent[0]).toEqual({ type: 'state', state: inner.state });
    const lastState = sent.findLastIndex((e) => e.type === 'state');
    for (const e of sent.slice(0, lastState + 1)) expect(e.type).toBe('state');
    // Behind the last state, every event fired after it, none missing.
    const after = sent.slice(lastState + 1);
    expect(after.length).toBeGreaterThan(0);
    expect(after).toEqual(fired.slice(fired.length - after.length));
  });

  it('sends a batch per drain and keeps the rest for the next', () => {
    register({ eventsPerDrain: 10 });
    const window = app.open(RENDERER_URL);
    for (let i = 0; i < 35; i++) inner.fire(sampleEvents.segment(i, `s${i}`));
    expect(scheduler.flush()).toBe(4);
    expect(window.sentCount).toBe(35);
  });

  it('sends nothing to a window that is not the renderer, or that navigated away', () => {
    register();
    const devtools = app.open('devtools://devtools/bundled/devtools_app.html');
    const remote = app.open('https://attacker.example/');
    const window = app.open(RENDERER_URL);
    inner.fire(sampleEvents.segment(0, 'before'));
    scheduler.flush();
    window.navigate('https://attacker.example/');
    inner.fire(sampleEvents.segment(1, 'after'));
    scheduler.flush();
    expect(devtools.sentCount).toBe(0);
    expect(remote.sentCount).toBe(0);
    expect(eventsSent(window)).toEqual([sampleEvents.segment(0, 'before')]);
  });

  it('drops what waits for a window that navigates away before the drain', () => {
    register();
    const window = app.open(RENDERER_URL);
    inner.fire(sampleEvents.segment(0, 'queued'));
    window.navigate('https://attacker.example/');
    scheduler.flush();
    expect(window.sentCount).toBe(0);
  });

  it("disposes a window's subscription when it closes, and sends it nothing after", () => {
    register();
    const first = app.open(RENDERER_URL);
    const second = app.open(RENDERER_URL);
    expect(backend.subscriptions).toBe(2);
    expect(handlers.followedCount).toBe(2);
    inner.fire(sampleEvents.segment(0, 'queued before the close'));
    first.destroy();
    expect(backend.subscriptions).toBe(1);
    expect(handlers.followedCount).toBe(1);
    // Its queued event is not sent (the fake throws on a send to a destroyed window).
    inner.fire(sampleEvents.segment(1, 'after the close'));
    scheduler.flush();
    expect(first.sentCount).toBe(0);
    expect(eventsSent(second)).toHaveLength(2);
    handlers.dispose();
    expect(second.destroyedListenerCount).toBe(0);
    expect(scheduler.pendingCount).toBe(0);
  });

  it('drains on a short timer by default', async () => {
    handlers = registerApiHandlers(new FakeIpcMain(), location, backend, app);
    const window = app.open(RENDERER_URL);
    const arrived = new Promise<void>((resolve) => (window.onSend = resolve));
    inner.fire(sampleEvents.segment(0, 'hello'));
    expect(window.sentCount).toBe(0);
    await arrived;
    expect(eventsSent(window)).toEqual([sampleEvents.segment(0, 'hello')]);
    window.destroy();
  });
});

/** Random values of every JS type, nested, huge, hostile. */
function valueFuzzer(random: () => number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const huge = 'x'.repeat(1024 * 1024);
  const hostileKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'then'];

  function scalar(): unknown {
    return pick<() => unknown>([
      () => undefined,
      () => null,
      () => random() < 0.5,
      () => pick([0, -0, 1, -1, API_VERSION, 2 ** 53, -(2 ** 53), 1e308, NaN, Infinity, -Infinity]),
      () => (random() - 0.5) * 10 ** Math.floor(random() * 20),
      () => BigInt(Math.floor(random() * 1e9)),
      () => '',
      () => pick(COMMAND_NAMES),
      () => ipcCommandChannel(pick(COMMAND_NAMES)),
      () => pick(hostileKeys),
      () => String.fromCharCode(...Array.from({ length: 20 }, () => Math.floor(random() * 0xffff))),
      () => '\ud800',
      () => (random() < 0.1 ? huge : huge.slice(0, 70)),
      () => Symbol('fuzz'),
      () => () => 'a function',
      () => new Date(random() * 1e13),
      () => /re(g)ex/g,
      () => new Map([[1, 2]]),
      () => new Set([1]),
      () => new Uint8Array(16),
      () => new ArrayBuffer(8),
      () => new Error('an error'),
      () => Object.create(null),
      () => JSON.parse('{"__proto__": {"polluted": true}}'),
      () => ({ constructor: { prototype: { polluted: true } } }),
    ])();
  }

  function deep(depth: number): unknown {
    let value: unknown = scalar();
    for (let i = 0; i < depth; i++)
      value = random() < 0.5 ? [value] : { [pick(hostileKeys)]: value };
    return value;
  }

  function value(level = 0): unknown {
    const r = random();
    if (level > 3 || r < 0.45) return scalar();
    if (r < 0.6) return deep(Math.floor(random() * 5000));
    if (r < 0.8) return Array.from({ length: Math.floor(random() * 5) }, () => value(level + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(random() * 5); i > 0; i--) {
      o[random() < 0.3 ? pick(hostileKeys) : `k${i}`] = value(level + 1);
    }
    return o;
  }

  /** Own properties only, even `__proto__`: what JSON.parse or a structured clone makes. */
  const define = (o: object, key: string, d: PropertyDescriptor) =>
    Object.defineProperty(o, key, { ...d, enumerable: true, configurable: true });

  /**
   * A valid call with one or two fields changed, removed, or added; `command`
   * is a field the payload no longer has (the channel names the command).
   */
  function mutatedCall(): unknown {
    const base: Record<string, unknown> = call({});
    for (let n = 1 + Math.floor(random() * 2); n > 0; n--) {
      const field = pick(['apiVersion', 'command', 'params', '__proto__', 'extra']);
      const how = random();
      if (field === 'apiVersion' && how < 0.3) {
        define(base, field, { value: pick([0, -1, 2, 999, 2 ** 31]) });
      } else if (how < 0.2) delete base[field];
      else if (how < 0.4 && field === 'params') {
        define(base, field, { value: { [pick(hostileKeys)]: value() } });
      } else define(base, field, { value: value(), writable: random() < 0.5 });
    }
    if (random() < 0.05) {
      define(base, pick(['apiVersion', 'params', 'command']), {
        get() {
          throw new Error('a getter that throws');
        },
      });
    }
    return base;
  }

  /** A random scalar as text; a null-prototype object has no way to become one. */
  function text(): string {
    try {
      return String(scalar()).slice(0, 80);
    } catch {
      return '[object with no prototype]';
    }
  }

  /**
   * A channel: mostly a command's, else one of ours misspelt or any string at
   * all (which may, rarely, be a command's channel after all).
   */
  function channel(): string {
    const r = random();
    if (r < 0.9) return ipcCommandChannel(pick(COMMAND_NAMES));
    if (r < 0.95) return pick(unhandledChannels);
    return random() < 0.5 ? `steno:command:${text()}` : text();
  }

  return { value, mutatedCall, valid: () => call({}), channel };
}

const OutcomeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: ErrorSchema }),
]);

describe('registerApiHandlers: fuzz', () => {
  it('answers 10,000 random and mutated payloads with an outcome on every command channel, and rejects unknown channels', async () => {
    const random = mulberry32(0x5e1f);
    const fuzz = valueFuzzer(random);
    // The real dispatcher behind the handlers: params checked against the API's schemas.
    const answered = Object.fromEntries(COMMAND_NAMES.map((name) => [name, () => ({ name })]));
    const inner = new FakeBackend();
    let reachedBackend = 0;
    let lastCommand: unknown;
    const backend: ApiBackend = {
      call: (command, params) => {
        reachedBackend++;
        lastCommand = command;
        return dispatchCommand(answered as unknown as CommandHandlers, command, params);
      },
      onDidEvent: inner.onDidEvent,
      currentState: () => FAKE_STATE,
    };
    const ipcMain = new FakeIpcMain();
    const handlers = registerApiHandlers(ipcMain, location, backend, new FakeApp());
    const codes = new Map<string, number>();
    const count = (code: string) => codes.set(code, (codes.get(code) ?? 0) + 1);
    /** Commands that reached the backend through their channel. */
    const commandsReached = new Set<CommandName>();
    try {
      for (let i = 0; i < 10_000; i++) {
        const kind = random();
        const payload = kind < 0.4 ? fuzz.value() : kind < 0.9 ? fuzz.mutatedCall() : fuzz.valid();
        const untrusted = random() < 0.1;
        const frame = untrusted ? untrustedFrames[i % untrustedFrames.length]![1] : trustedFrame();
        const args = random() < 0.05 ? [payload, fuzz.value()] : [payload];
        const channel = fuzz.channel();
        const command = COMMAND_NAMES.find((name) => ipcCommandChannel(name) === channel);
        const before = reachedBackend;
        if (command === undefined) {
          await expect(
            ipcMain.invokeOnChannel(channel, frame, ...args),
            `payload ${i} on ${channel}`,
          ).rejects.toThrow(noHandler(channel));
          expect(reachedBackend).toBe(before);
          count('no handler');
          continue;
        }
        let outcome: CallOutcome;
        try {
          outcome = await ipcMain.invokeOnChannel(channel, frame, ...args);
        } catch (e) {
          throw new Error(`payload ${i} on ${channel} made the handler throw: ${String(e)}`);
        }
        const parsed = OutcomeSchema.safeParse(outcome);
        expect(parsed.success, `payload ${i}: ${JSON.stringify(outcome)?.slice(0, 200)}`).toBe(
          true,
        );
        // The channel alone says which command runs.
        if (reachedBackend > before) {
          expect(lastCommand).toBe(command);
          commandsReached.add(command);
        }
        if (outcome.ok) expect(outcome.result).toEqual({ name: command });
        count(outcome.ok ? 'ok' : outcome.error.code);
        if (untrusted) {
          expect(outcome).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
          expect(reachedBackend).toBe(before);
        }
      }
    } finally {
      handlers.dispose();
      inner.dispose();
    }
    // Nothing leaked into the prototypes the payloads aimed at.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
    // The mix reached every door: unknown channels, refused senders, bad payloads, versions, successes.
    for (const code of [
      'ok',
      'no handler',
      'UNAUTHORIZED',
      'INVALID_PAYLOAD',
      'API_VERSION_MISMATCH',
    ]) {
      expect(codes.get(code) ?? 0, `${code} in ${JSON.stringify([...codes])}`).toBeGreaterThan(50);
    }
    // Every command reached the backend through its own channel, under its own name.
    expect([...commandsReached].sort()).toEqual([...COMMAND_NAMES].sort());
    expect(codes.get('UNKNOWN_COMMAND')).toBeUndefined();
    console.log(`ipc fuzz outcomes: ${JSON.stringify(Object.fromEntries(codes))}`);
  });
});

/**
 * Counts live disposables without a stack per creation. The setup's tracker
 * keeps one, and formatting those stacks retains a few hundred bytes per
 * round (measured: 200-630 B/round with it, 3-10 B/round without), which
 * would hide a leak of that size; this test checks disposal itself instead.
 */
class CountingTracker implements DisposableTracker {
  readonly live = new Set<IDisposable>();
  trackCreated(d: IDisposable): void {
    this.live.add(d);
  }
  trackDisposed(d: IDisposable): void {
    this.live.delete(d);
  }
}

describe('registerApiHandlers: leaks', () => {
  it('a window opening, calling, getting events and closing keeps nothing (1x, 10x, 100x)', async () => {
    const tracker = new CountingTracker();
    setDisposableTracker(tracker);
    const inner = new FakeBackend({ appInfo: () => FAKE_APP_INFO });
    const backend = countingBackend(inner);
    const app = new FakeApp();
    const ipcMain = new FakeIpcMain();
    // The default drain timer: a timer left behind would show as an active handle.
    const handlers = registerApiHandlers(ipcMain, location, backend, app);
    const liveBefore = tracker.live.size;
    /** Per round: subscriptions, followed windows, listeners, handlers and disposables still there. */
    const leftOver: number[] = [];
    try {
      const report = await measureLeak(async () => {
        const { contents: window, ipcRenderer } = openWiredWindow(ipcMain, app, RENDERER_URL);
        const reply = await ipcRenderer.invoke(ipcCommandChannel('appInfo'), call());
        if (!(reply as CallOutcome).ok) throw new Error(`appInfo failed: ${JSON.stringify(reply)}`);
        const arrived = new Promise<void>((resolve) => {
          window.onSend = () => {
            if (window.sentCount === 2) resolve();
          };
        });
        inner.fire(sampleEvents.segment(1, 'one'));
        inner.fire(sampleEvents.metrics(1));
        await arrived;
        window.destroy();
        leftOver.push(
          backend.subscriptions +
            handlers.followedCount +
            window.destroyedListenerCount +
            (ipcMain.handlers.size - COMMAND_NAMES.length) +
            (tracker.live.size - liveBefore),
        );
      });
      console.log(
        `ipc window leak: ${report.heapPerRound.toFixed(1)} B/round, ` +
          `samples ${JSON.stringify(report.samples)}`,
      );
      // A window's forwarder alone is over 8 KiB (its queue's slots): 256 B/round is far below.
      assertNoLeak(report, 256);
    } finally {
      handlers.dispose();
      inner.dispose();
      setDisposableTracker(null);
    }
    expect(new Set(leftOver)).toEqual(new Set([0]));
    expect(leftOver).toHaveLength(10 + 1 + 10 + 100);
    expect(app.listenerCount).toBe(0);
    expect(ipcMain.handlers.size).toBe(0);
    expect(tracker.live.size).toBe(0);
  });
});
