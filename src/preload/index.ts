/**
 * Preload for the sandboxed renderer. Built as one CommonJS file
 * (out/preload/index.cjs) because sandboxed preloads cannot be ES modules and
 * can require only `electron`; the API's schemas are bundled into it.
 * Exposes `window.steno` (see api.ts) and nothing else.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { z } from 'zod';
import { createStenoBridge } from './bridge';

// The window's CSP forbids eval: zod must not probe for it (the probe is reported as a violation).
z.config({ jitless: true });

contextBridge.exposeInMainWorld('steno', createStenoBridge(ipcRenderer));
