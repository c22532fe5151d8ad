/**
 * The whole surface the renderer can reach: `window.steno`. The renderer imports
 * these types only (`import type`); the preload implements them; the Electron
 * shell answers the channels. Nothing raw (no ipcRenderer, no Node) crosses.
 */

export interface AppInfo {
  /** The app's version from package.json. */
  readonly version: string;
  /** `process.platform` of the main process, e.g. `linux`, `darwin`, `win32`. */
  readonly platform: string;
}

export interface StenoApi {
  appInfo(): Promise<AppInfo>;
}

/** IPC channel names, shared by the preload and the shell so they cannot drift. */
export const IpcChannel = {
  appInfo: 'steno:app-info',
} as const;

export type IpcChannel = (typeof IpcChannel)[keyof typeof IpcChannel];

/** Checks a reply that crossed a process boundary before anyone trusts it. */
export function isAppInfo(value: unknown): value is AppInfo {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.version === 'string' && typeof v.platform === 'string';
}
