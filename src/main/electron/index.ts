/**
 * The Electron shell: one window, the renderer in it, IPC checked at the door.
 * This directory is the only place that imports `electron`; the services it
 * will call run in plain Node and are tested there.
 */
import { join } from 'node:path';
import { BrowserWindow, app, ipcMain, session } from 'electron';
import { DisposableStore } from '../../core/lifecycle';
import { registerIpcHandlers } from './ipc';
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
  app.on('will-quit', () => store.dispose());

  app
    .whenReady()
    .then(() => {
      store.add(denyAllPermissions(session.defaultSession));
      store.add(
        registerIpcHandlers(ipcMain, location, () => ({
          version: app.getVersion(),
          platform: process.platform,
        })),
      );
      openWindow();
      app.on('activate', openWindow);
    })
    .catch((error: unknown) => {
      console.error('Steno could not start:', error);
      app.exit(1);
    });
}

main();
