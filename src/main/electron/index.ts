/**
 * The Electron shell: one window, the renderer in it, the services behind
 * IPC checked at the door. This directory is the only place that imports
 * `electron`; the services run in plain Node and are tested there.
 */
import { join } from 'node:path';
import { BrowserWindow, app, dialog, ipcMain, session } from 'electron';
import { defaultDataDir } from '../paths';
import { DisposableStore } from '../../core/lifecycle';
import { StenoService } from '../services/steno-service';
import { electronHostLauncher } from './host-launcher';
import { registerApiHandlers } from './ipc';
import { resolveRendererLocation, type RendererLocation } from './renderer-location';
import { denyAllPermissions, hardenWebContents } from './security';

function createMainWindow(location: RendererLocation): BrowserWindow {
  const window = new BrowserWindow({
    title: 'Steno',
    width: 1100,
    height: 760,
    minWidth: 640,
    minHeight: 480,
    show: false,
    webPreferences: {
      preload: join(app.getAppPath(), 'out', 'preload', 'index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      webviewTag: false,
      navigateOnDragDrop: false,
    },
  });
  window.once('ready-to-show', () => window.show());
  const loaded =
    location.kind === 'dev-server'
      ? window.loadURL(location.url.href)
      : window.loadFile(location.path);
  loaded.catch((error: unknown) => {
    console.error('Steno could not load its window:', error);
    app.exit(1);
  });
  return window;
}

function main(): void {
  if (!app.requestSingleInstanceLock()) {
    // Another Steno is running; it gets focus through 'second-instance'.
    app.quit();
    return;
  }
  // Sandbox every renderer, including any created by accident.
  app.enableSandbox();

  const location = resolveRendererLocation({
    appPath: app.getAppPath(),
    isPackaged: app.isPackaged,
    devServerUrl: process.env.ELECTRON_RENDERER_URL,
  });
  const store = new DisposableStore();
  store.add(hardenWebContents(app, location));
  let mainWindow: BrowserWindow | null = null;

  const openWindow = (): void => {
    if (mainWindow && !mainWindow.isDestroyed()) return;
    mainWindow = createMainWindow(location);
    mainWindow.on('closed', () => {
      mainWindow = null;
    });
  };

  app.on('second-instance', () => {
    if (!mainWindow || mainWindow.isDestroyed()) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  let service: StenoService | null = null;
  let quit: 'running' | 'shutting-down' | 'done' = 'running';
  app.on('will-quit', (event) => {
    if (quit === 'done') return;
    // Hold the quit until a recording in progress is final on disk.
    event.preventDefault();
    if (quit === 'shutting-down') return;
    quit = 'shutting-down';
    void shutDown(service, store).finally(() => {
      quit = 'done';
      app.quit();
    });
  });

  app
    .whenReady()
    .then(async () => {
      store.add(denyAllPermissions(session.defaultSession));
      service = store.add(
        await StenoService.create({
          // The CLI's data folder too: the window and `steno` share one library.
          dataDir: defaultDataDir(),
          hostLauncher: electronHostLauncher(),
          version: app.getVersion(),
        }),
      );
      // Before the first window: only web contents created later get events.
      store.add(registerApiHandlers(ipcMain, location, service, app));
      // File jobs left by a quit or a crash continue.
      service.jobs.start();
      openWindow();
      app.on('activate', openWindow);
    })
    .catch((error: unknown) => {
      console.error('Steno could not start:', error);
      dialog.showErrorBox('Steno could not start', String((error as Error)?.message ?? error));
      app.exit(1);
    });
}

/**
 * Finishes a recording in progress, then disposes everything (the IPC
 * handlers, the services). The service bounds its own wait for the
 * transcript; the audio is final before it returns.
 */
async function shutDown(service: StenoService | null, store: DisposableStore): Promise<void> {
  try {
    await service?.shutdown();
  } catch (error) {
    console.error('Steno could not finish the recording in progress:', error);
  }
  try {
    store.dispose();
  } catch (error) {
    console.error('Steno could not release everything while quitting:', error);
  }
}

main();
