import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ApiBackend, CallOutcome } from '../../core/api/backend';
import { COMMAND_NAMES } from '../../core/api/commands';
import type { StenoEvent } from '../../core/api/events';
import { ErrorSchema } from '../../core/api/types';
import { API_VERSION } from '../../core/api/version';
import { IPC_CALL_CHANNEL, IPC_EVENT_CHANNEL } from '../../core/api/wire';
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

const call = (command: string, params: unknown = {}) => ({
  apiVersion: API_VERSION,
  command,
  params,
});

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

  it('registers one handler, on the call channel, and removes it when disposed', () => {
    expect([...ipcMain.handlers.keys()]).toEqual([IPC_CALL_CHANNEL]);
    handlers.dispose();
    expect(ipcMain.handlers.size).toBe(0);
  });

  for (const [what, frame] of untrustedFrames) {
    it(`refuses a call from ${what} with UNAUTHORIZED, before the backend sees it`, async () => {
      const outcome = await ipcMain.invoke(frame, call('appInfo'));
      expect(outcome).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
      expect(ErrorSchema.safeParse((outcome as { error: unknown }).error).success).toBe(true);
      expect(backend.callCount).toBe(0);
    });
  }

  it('refuses another API version, naming both versions, before the backend sees it', async () => {
    const outcome = await ipcMain.invoke(trustedFrame(), {
      ...call('appInfo'),
      apiVersion: API_VERSION + 1,
    });
    expect(outcome).toMatchObject({ ok: false, error: { code: 'API_VERSION_MISMATCH' } });
    const message = (outcome as { error: { message: string } }).error.message;
    expect(message).toContain(String(API_VERSION + 1));
    expect(message).toContain(String(API_VERSION));
    expect(backend.callCount).toBe(0);
  });

  it('refuses a malformed call and a call with extra arguments as INVALID_PAYLOAD', async () => {
    for (const args of [[], [null], ['appInfo'], [{ command: 'appInfo' }], [call('appInfo'), 2]]) {
      const outcome = await ipcMain.invoke(trustedFrame(), ...args);
      expect(outcome, JSON.stringify(args)).toMatchObject({
        ok: false,
        error: { code: 'INVALID_PAYLOAD' },
      });
    }
    expect(backend.callCount).toBe(0);
  });

  it("returns the backend's outcome for a valid call, success or failure", async () => {
    expect(await ipcMain.invoke(trustedFrame(), call('appInfo'))).toEqual({
      ok: true,
      result: FAKE_APP_INFO,
    });
    const failed = await ipcMain.invoke(trustedFrame(), call('startRecording', { deviceId: 3 }));
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
      const outcome = await brokenIpc.invoke(trustedFrame(), call('appInfo'));
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

  /** A valid call with one or two fields changed, removed, or added. */
  function mutatedCall(): unknown {
    const base: Record<string, unknown> = call(pick(COMMAND_NAMES), {});
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
      define(base, 'command', {
        get() {
          throw new Error('a getter that throws');
        },
      });
    }
    return base;
  }

  return { value, mutatedCall, valid: () => call(pick(COMMAND_NAMES), {}) };
}

const OutcomeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: ErrorSchema }),
]);

describe('registerApiHandlers: fuzz', () => {
  it('answers 10,000 random and mutated payloads with an outcome, never a throw', async () => {
    const random = mulberry32(0x5e1f);
    const fuzz = valueFuzzer(random);
    // The real dispatcher behind the handler: params checked against the API's schemas.
    const answered = Object.fromEntries(COMMAND_NAMES.map((name) => [name, () => ({ name })]));
    const inner = new FakeBackend();
    let reachedBackend = 0;
    const backend: ApiBackend = {
      call: (command, params) => {
        reachedBackend++;
        return dispatchCommand(answered as unknown as CommandHandlers, command, params);
      },
      onDidEvent: inner.onDidEvent,
      currentState: () => FAKE_STATE,
    };
    const ipcMain = new FakeIpcMain();
    const handlers = registerApiHandlers(ipcMain, location, backend, new FakeApp());
    const codes = new Map<string, number>();
    try {
      for (let i = 0; i < 10_000; i++) {
        const kind = random();
        const payload = kind < 0.4 ? fuzz.value() : kind < 0.9 ? fuzz.mutatedCall() : fuzz.valid();
        const untrusted = random() < 0.1;
        const frame = untrusted ? untrustedFrames[i % untrustedFrames.length]![1] : trustedFrame();
        const args = random() < 0.05 ? [payload, fuzz.value()] : [payload];
        const before = reachedBackend;
        let outcome: CallOutcome;
        try {
          outcome = await ipcMain.invoke(frame, ...args);
        } catch (e) {
          throw new Error(`payload ${i} made the handler throw: ${String(e)}`);
        }
        const parsed = OutcomeSchema.safeParse(outcome);
        expect(parsed.success, `payload ${i}: ${JSON.stringify(outcome)?.slice(0, 200)}`).toBe(
          true,
        );
        const code = outcome.ok ? 'ok' : outcome.error.code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (untrusted) {
          expect(code).toBe('UNAUTHORIZED');
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
    // The mix reached every door: refused senders, bad payloads, versions, commands, successes.
    for (const code of ['ok', 'UNAUTHORIZED', 'INVALID_PAYLOAD', 'API_VERSION_MISMATCH']) {
      expect(codes.get(code) ?? 0, `${code} in ${JSON.stringify([...codes])}`).toBeGreaterThan(50);
    }
    expect(codes.get('UNKNOWN_COMMAND') ?? 0).toBeGreaterThan(0);
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
  it('a window opening, getting events and closing keeps nothing (1x, 10x, 100x)', async () => {
    const tracker = new CountingTracker();
    setDisposableTracker(tracker);
    const inner = new FakeBackend();
    const backend = countingBackend(inner);
    const app = new FakeApp();
    // The default drain timer: a timer left behind would show as an active handle.
    const handlers = registerApiHandlers(new FakeIpcMain(), location, backend, app);
    const liveBefore = tracker.live.size;
    /** Per round: subscriptions, followed windows, listeners and disposables still there. */
    const leftOver: number[] = [];
    try {
      const report = await measureLeak(async () => {
        const window = app.open(RENDERER_URL, false);
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
    expect(tracker.live.size).toBe(0);
  });
});
