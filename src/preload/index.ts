/**
 * Preload for the sandboxed renderer. Built as one CommonJS file
 * (out/preload/index.cjs) because sandboxed preloads cannot be ES modules and
 * can require only `electron`. Exposes `window.steno` and nothing else.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { IpcChannel, isAppInfo, type AppInfo, type StenoApi } from './api';

const api: StenoApi = {
  async appInfo(): Promise<AppInfo> {
    const reply: unknown = await ipcRenderer.invoke(IpcChannel.appInfo);
    if (!isAppInfo(reply))
      throw new Error(`${IpcChannel.appInfo}: the main process sent a malformed reply`);
    // A fresh object: only the declared fields reach the page.
    return { version: reply.version, platform: reply.platform };
  },
};

contextBridge.exposeInMainWorld('steno', api);
