import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StenoError } from '../src/core/errors';

/**
 * Loader for the stdio-redirect addon (native/stdio-redirect/stdio_redirect.c),
 * built at install time by native/build-stdio-redirect.mjs. A missing or
 * broken build is not fatal: the result says why, and the caller runs without
 * capturing native output.
 */

export interface StdioRedirectAddon {
  /** A copy of `fd`, numbered 3 or above, close-on-exec. */
  dupCloexec(fd: number): number;
  /** Flushes libc's buffered stdio, then makes `dstFd` refer to what `srcFd` refers to. */
  redirect(srcFd: number, dstFd: number): void;
  /** Flushes libc's buffered stdio (printf output of native libraries not yet written). */
  flush(): void;
}

export type StdioRedirectLoad =
  | { readonly ok: true; readonly addon: StdioRedirectAddon }
  | { readonly ok: false; readonly problem: StenoError; readonly unsupported: boolean };

const ADDON_RELATIVE = path.join(
  'native',
  'stdio-redirect',
  'build',
  'Release',
  'stdio_redirect.node',
);

/**
 * Where the build step puts the addon: found by walking up from this module,
 * so it is the same whether this file runs from native/ (tsx) or from a
 * bundle in out/main/. Capacity: at most 6 parent directories are tried.
 */
export function defaultStdioRedirectPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, ADDON_RELATIVE);
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // Not built: name the path the build step would have written, for the message.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', ADDON_RELATIVE);
}

/** Loaded addons by path. Capacity: one entry per distinct path asked for (in practice one). */
const loaded = new Map<string, StdioRedirectLoad>();

/**
 * Loads the addon once per path. On Windows it is not loaded at all: each DLL
 * there may carry its own C runtime with its own table of fds, so a `_dup2` in
 * this addon would not move PortAudio's or naudiodon's stdout; capture is
 * reported as unsupported instead (the C code still compiles there).
 */
export function loadStdioRedirect(options: { addonPath?: string } = {}): StdioRedirectLoad {
  if (process.platform === 'win32')
    return {
      ok: false,
      unsupported: true,
      problem: new StenoError(
        'NATIVE_UNAVAILABLE',
        "Native libraries' output cannot be captured on Windows.",
        'Nothing to do: their messages, if any, appear in the terminal.',
      ),
    };
  const addonPath = options.addonPath ?? defaultStdioRedirectPath();
  const cached = loaded.get(addonPath);
  if (cached) return cached;
  let result: StdioRedirectLoad;
  try {
    // Not named `require`: bundled ESM output declares its own.
    const nodeRequire = createRequire(import.meta.url);
    const addon = nodeRequire(addonPath) as StdioRedirectAddon;
    if (typeof addon.dupCloexec !== 'function' || typeof addon.redirect !== 'function')
      throw new Error(`${addonPath} is not the stdio-redirect addon`);
    result = { ok: true, addon };
  } catch (e) {
    result = {
      ok: false,
      unsupported: false,
      problem: new StenoError(
        'NATIVE_UNAVAILABLE',
        `Native libraries' messages (ALSA, PortAudio) cannot be kept off the terminal: the stdio-redirect module could not be loaded (${(e as Error).message.split('\n')[0]}).`,
        'Build it with `node native/build-stdio-redirect.mjs` (needs a C compiler; Debian/Ubuntu: build-essential python3), or reinstall with `npm ci`.',
        { cause: e },
      ),
    };
  }
  loaded.set(addonPath, result);
  return result;
}
