/**
 * How Steno's install steps find node-gyp and Node's headers offline (they
 * must never try to download anything): shared by build-whisper.mjs and
 * build-stdio-redirect.mjs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** npm passes its bundled node-gyp to lifecycle scripts; outside npm look for it. */
export function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    tryResolve('node-gyp/bin/node-gyp.js'),
    path.join(
      path.dirname(process.execPath),
      '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    ),
    path.join(
      path.dirname(process.execPath),
      'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    ),
  ];
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found)
    throw new Error("node-gyp not found (neither npm_config_node_gyp nor npm's bundled copy)");
  return found;
}

function tryResolve(id) {
  try {
    return require.resolve(id, { paths: [repoRoot] });
  } catch {
    return undefined;
  }
}

/**
 * Node headers: npm's nodedir if configured, else the headers next to this
 * node binary if present.
 */
export function nodedirArgs() {
  const configured = process.env.npm_config_nodedir;
  if (configured) return [`--nodedir=${configured}`];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) return [`--nodedir=${prefix}`];
  return [];
}
