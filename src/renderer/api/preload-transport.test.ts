import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StenoEvent } from '../../core/api/events';
import { StenoError } from '../../core/errors';
import { resolveRendererLocation } from '../../main/electron/renderer-location';
import { registerApiHandlers, type ApiHandlers } from '../../main/electron/ipc';
import type { StenoBridge } from '../../preload/api';
import { createStenoBridge } from '../../preload/bridge';
import { FAKE_APP_INFO, FakeBackend, sampleEvents } from '../../testing/fake-backend';
import { FakeApp, FakeIpcMain, openWiredWindow } from '../../testing/fake-electron';
import { createStenoStore } from '../store';
import { preloadClient } from './preload-transport';
import { syncStore } from './store-sync';

const location = resolveRendererLocation({
  appPath: '/opt/steno',
  isPackaged: true,
  devServerUrl: undefined,
});

describe('the preload client, over the bridge, over IPC, to a backend', () => {
  let backend: FakeBackend;
  let handlers: ApiHandlers;
  let ipcMain: FakeIpcMain;
  let app: FakeApp;
  let appInfo: unknown;

  beforeEach(() => {
    appInfo = FAKE_APP_INFO;
    backend = new FakeBackend({
      appInfo: () => appInfo,
      getState: () => backend.currentState(),
      stopRecording: () => {
        throw new StenoError('NOT_RECORDING', 'Nothing is being recorded.', 'Press Record first.');
      },
    });
    ipcMain = new FakeIpcMain();
    app = new FakeApp();
    handlers = registerApiHandlers(ipcMain, location, backend, app);
  });

  afterEach(() => {
    handlers.dispose();
    backend.dispose();
  });

  const openWindow = () => {
    const { contents, ipcRenderer } = openWiredWindow(ipcMain, app, location.url.href);
    return { contents, client: preloadClient(createStenoBridge(ipcRenderer)) };
  };

  it('a call resolves with its checked result; a failure rejects as a StenoError', async () => {
    const { client, contents } = openWindow();
    await expect(client.appInfo({})).resolves.toEqual(FAKE_APP_INFO);
    const failure = await client.stopRecording({}).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StenoError);
    expect(failure).toMatchObject({
      code: 'NOT_RECORDING',
      message: 'Nothing is being recorded.',
      action: 'Press Record first.',
    });
    contents.destroy();
  });

  it('a result that passed the bridge but not its schema is refused in the renderer', async () => {
    appInfo = { version: 5 };
    const { client, contents } = openWindow();
    await expect(client.appInfo({})).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
      message: expect.stringContaining('appInfo'),
    });
    contents.destroy();
  });

  it('a window from elsewhere is refused at the door', async () => {
    const { contents, ipcRenderer } = openWiredWindow(ipcMain, app, 'https://attacker.example/');
    const client = preloadClient(createStenoBridge(ipcRenderer));
    await expect(client.appInfo({})).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(backend.callCount).toBe(0);
    contents.destroy();
  });

  it('a call main no longer answers rejects as INTERNAL, naming its channel', async () => {
    const { client, contents } = openWindow();
    await expect(client.appInfo({})).resolves.toEqual(FAKE_APP_INFO);
    handlers.dispose();
    await expect(client.appInfo({})).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringContaining("No handler registered for 'steno:command:appInfo'"),
    });
    expect(backend.callCount).toBe(1);
    contents.destroy();
  });

  it('events reach the store; closing the window ends its subscription', async () => {
    const { client, contents } = openWindow();
    const store = createStenoStore();
    const sync = syncStore(client, store);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.getState().connection).toEqual({ status: 'connected', info: FAKE_APP_INFO });
    const arrived = new Promise<void>((resolve) => (contents.onSend = resolve));
    backend.fire(sampleEvents.segment(0, 'over the wire'));
    await arrived;
    expect(store.getState().segments.map((s) => s.text)).toEqual(['over the wire']);
    expect(handlers.followedCount).toBe(1);
    contents.destroy();
    expect(handlers.followedCount).toBe(0);
    sync.dispose();
  });

  it('checks events again in the renderer: a malformed one from the bridge is dropped', () => {
    let deliver: (event: unknown) => void = () => {};
    const bridge = {
      onEvent(listener: (event: unknown) => void) {
        deliver = listener;
        return () => {};
      },
    } as unknown as StenoBridge;
    const dropped: string[] = [];
    const client = preloadClient(bridge, (issue) => dropped.push(issue));
    const received: StenoEvent[] = [];
    client.onEvent((e) => received.push(e));
    deliver({ type: 'recording.level', peakDbfs: 'loud' });
    deliver(sampleEvents.level(-6));
    expect(received).toEqual([sampleEvents.level(-6)]);
    expect(dropped).toHaveLength(1);
  });
});
