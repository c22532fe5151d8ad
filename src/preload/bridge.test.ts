import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES } from '../core/api/commands';
import type { StenoEvent } from '../core/api/events';
import { API_VERSION } from '../core/api/version';
import { ipcCommandChannel, IPC_EVENT_CHANNEL } from '../core/api/wire';
import { setUnexpectedErrorHandler } from '../core/unexpected-error';
import { FAKE_APP_INFO, sampleEvents } from '../testing/fake-backend';
import { FakeIpcRenderer } from '../testing/fake-electron';
import { createStenoBridge, MAX_EVENT_LISTENERS } from './bridge';

const answering = (reply: unknown) => new FakeIpcRenderer(async () => reply);

describe('the preload bridge: calls', () => {
  it('offers every command of the API and onEvent, and nothing else', () => {
    const bridge = createStenoBridge(answering(null));
    expect(Object.keys(bridge).sort()).toEqual([...COMMAND_NAMES, 'onEvent'].sort());
    for (const value of Object.values(bridge)) expect(typeof value).toBe('function');
    expect(Object.isFrozen(bridge)).toBe(true);
  });

  it("invokes the command's own channel with the API version and its params", async () => {
    const ipc = answering({ ok: true, result: FAKE_APP_INFO });
    const bridge = createStenoBridge(ipc);
    await bridge.appInfo();
    await bridge.startRecording({ deviceId: 4 });
    expect(ipc.invocations).toEqual([
      { channel: 'steno:command:appInfo', args: [{ apiVersion: API_VERSION, params: {} }] },
      {
        channel: 'steno:command:startRecording',
        args: [{ apiVersion: API_VERSION, params: { deviceId: 4 } }],
      },
    ]);
  });

  it('gives every command its own channel, and no command another one', async () => {
    const ipc = answering({ ok: true, result: null });
    const bridge = createStenoBridge(ipc) as unknown as Record<string, () => Promise<unknown>>;
    for (const name of COMMAND_NAMES) await bridge[name]!();
    expect(ipc.invocations.map((i) => i.channel)).toEqual(
      COMMAND_NAMES.map((name) => ipcCommandChannel(name)),
    );
    expect(new Set(ipc.invocations.map((i) => i.channel)).size).toBe(COMMAND_NAMES.length);
  });

  it("resolves with a successful outcome's result", async () => {
    const bridge = createStenoBridge(answering({ ok: true, result: FAKE_APP_INFO }));
    await expect(bridge.appInfo()).resolves.toEqual(FAKE_APP_INFO);
  });

  it("rejects a failed outcome with the error's code, message and action, as a plain object", async () => {
    const error = {
      code: 'NOT_RECORDING',
      message: 'Nothing is being recorded.',
      action: 'Press Record first.',
    };
    const bridge = createStenoBridge(answering({ ok: false, error }));
    const rejection: unknown = await bridge.pauseRecording().catch((e: unknown) => e);
    // A plain object, because the context bridge keeps only an Error's message.
    expect(rejection).toEqual(error);
    expect(rejection).not.toBeInstanceOf(Error);
  });

  it('rejects a malformed outcome as INVALID_PAYLOAD', async () => {
    const malformed = [
      undefined,
      null,
      'ok',
      { ok: 'yes', result: 1 },
      { ok: false },
      { ok: false, error: { code: 'NOT_A_CODE', message: 'm', action: 'a' } },
      { ok: false, error: { code: 'INTERNAL', message: 'm'.repeat(5000), action: 'a' } },
    ];
    for (const reply of malformed) {
      const rejection = await createStenoBridge(answering(reply))
        .getState()
        .catch((e: unknown) => e);
      expect(rejection, JSON.stringify(reply)).toMatchObject({
        code: 'INVALID_PAYLOAD',
        message: expect.stringContaining('getState'),
      });
    }
  });

  it('rejects a call that never reached the main process as INTERNAL, with the reason', async () => {
    const ipc = new FakeIpcRenderer(async () => {
      throw new Error(
        "Error invoking remote method 'steno:command:getState': Error: No handler registered for 'steno:command:getState'",
      );
    });
    await expect(createStenoBridge(ipc).getState()).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringContaining('No handler registered'),
    });
  });
});

describe('the preload bridge: events', () => {
  it('passes events that match the schema, in order, and drops malformed ones', () => {
    const ipc = answering(null);
    const dropped: string[] = [];
    const bridge = createStenoBridge(ipc, { onDroppedEvent: (issue) => dropped.push(issue) });
    const received: StenoEvent[] = [];
    const unsubscribe = bridge.onEvent((e) => received.push(e));
    const good = [
      sampleEvents.segment(0, 'hello'),
      sampleEvents.level(-20),
      sampleEvents.metrics(5),
    ];
    ipc.emit(IPC_EVENT_CHANNEL, good[0]);
    ipc.emit(IPC_EVENT_CHANNEL, { type: 'transcript.segment', id: 'rec-1' });
    ipc.emit(IPC_EVENT_CHANNEL, { type: 'no.such.event' });
    ipc.emit(IPC_EVENT_CHANNEL, null);
    ipc.emit(IPC_EVENT_CHANNEL, good[1]);
    ipc.emit(IPC_EVENT_CHANNEL, { ...sampleEvents.level(-20), peakDbfs: Number.NaN });
    ipc.emit(IPC_EVENT_CHANNEL, good[2]);
    expect(received).toEqual(good);
    expect(dropped).toHaveLength(4);
    expect(dropped[1]).toContain('no.such.event');
    unsubscribe();
  });

  it('unsubscribes, once, and holds at most MAX_EVENT_LISTENERS', () => {
    const ipc = answering(null);
    const bridge = createStenoBridge(ipc);
    const received: StenoEvent[] = [];
    const unsubscribe = bridge.onEvent((e) => received.push(e));
    expect(ipc.listenerCount(IPC_EVENT_CHANNEL)).toBe(1);
    unsubscribe();
    unsubscribe();
    expect(ipc.listenerCount(IPC_EVENT_CHANNEL)).toBe(0);
    ipc.emit(IPC_EVENT_CHANNEL, sampleEvents.segment(0, 'after'));
    expect(received).toEqual([]);

    const all = Array.from({ length: MAX_EVENT_LISTENERS }, () => bridge.onEvent(() => {}));
    expect(() => bridge.onEvent(() => {})).toThrow(/more than 16 event listeners/);
    for (const u of all) u();
    expect(ipc.listenerCount(IPC_EVENT_CHANNEL)).toBe(0);
    bridge.onEvent(() => {})();
  });

  it("keeps delivering when a page's listener throws, and reports the throw", () => {
    const errors: unknown[] = [];
    const previous = setUnexpectedErrorHandler((e) => errors.push(e));
    try {
      const ipc = answering(null);
      const bridge = createStenoBridge(ipc);
      const received: StenoEvent[] = [];
      const a = bridge.onEvent(() => {
        throw new Error('a broken listener');
      });
      const b = bridge.onEvent((e) => received.push(e));
      ipc.emit(IPC_EVENT_CHANNEL, sampleEvents.segment(0, 'one'));
      ipc.emit(IPC_EVENT_CHANNEL, sampleEvents.segment(1, 'two'));
      expect(received).toHaveLength(2);
      expect(errors.map((e) => (e as Error).message)).toEqual([
        'a broken listener',
        'a broken listener',
      ]);
      a();
      b();
    } finally {
      setUnexpectedErrorHandler(previous);
    }
  });
});
