#!/usr/bin/env node
/**
 * Builds the stdio-redirect addon (native/stdio-redirect, one C file using
 * Node-API) with node-gyp, offline, at install time.
 *
 * Usage: node native/build-stdio-redirect.mjs
 *
 * Output: native/stdio-redirect/build/Release/stdio_redirect.node, which
 * native/load-stdio-redirect.ts loads. Node-API is ABI-stable, so the same file
 * loads in Node and in Electron's Node: no rebuild for Electron.
 *
 * A failed build never fails `npm ci`: it prints one warning and exits 0, and
 * Steno then runs without capturing native libraries' output (their messages
 * reach the terminal, as they did before). node-gyp's output goes to
 * native/stdio-redirect/build.log, shown in the warning's tail.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNodeGyp, nodedirArgs } from './node-gyp-offline.mjs';

const TAG = '[steno:stdio-redirect]';
const addonDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stdio-redirect');
export const builtAddonPath = path.join(addonDir, 'build', 'Release', 'stdio_redirect.node');

export function buildStdioRedirect() {
  const logFile = path.join(addonDir, 'build.log');
  const log = fs.openSync(logFile, 'w');
  try {
    const r = spawnSync(
      process.execPath,
      [findNodeGyp(), 'rebuild', '--release', ...nodedirArgs()],
      { cwd: addonDir, stdio: ['ignore', log, log] },
    );
    if (r.status !== 0) {
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-12).join('\n');
      throw new Error(`node-gyp exited with ${r.status ?? r.signal}; end of ${logFile}:\n${tail}`);
    }
  } finally {
    fs.closeSync(log);
  }
  // Loading it in a fresh process proves it links against this Node.
  const check = spawnSync(
    process.execPath,
    ['-e', `require(${JSON.stringify(builtAddonPath)}).dupCloexec.call`],
    { stdio: 'pipe' },
  );
  if (check.status !== 0)
    throw new Error(`built addon does not load: ${check.stderr.toString().trim() || check.signal}`);
  return builtAddonPath;
}

function main() {
  const started = Date.now();
  try {
    const built = buildStdioRedirect();
    console.log(
      `${TAG} built ${path.relative(process.cwd(), built)} in ${Date.now() - started} ms`,
    );
  } catch (e) {
    console.error(
      `${TAG} WARNING: could not build the stdio-redirect addon; Steno will run, but ALSA and ` +
        `PortAudio messages will reach the terminal. Needs a C compiler and Python ` +
        `(Debian/Ubuntu: build-essential python3).\n${e?.message ?? e}`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
