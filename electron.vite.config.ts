import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const fromRoot = (p: string): string => resolve(root, p);

/**
 * Native addons are loaded from node_modules at run time, never bundled: their
 * `.node` binaries are found relative to their own package. Every package in
 * `dependencies` is externalized by electron-vite already; listing these here
 * keeps them external even if one moves to another dependency section.
 */
const NATIVE_ADDONS = ['naudiodon', 'smart-whisper', 'onnxruntime-node'];

/**
 * The built renderer keeps the strict CSP written in index.html. The dev server
 * needs inline scripts (React Refresh's preamble) and inline styles (Vite injects
 * CSS as <style>), so only `electron-vite dev` serves a relaxed copy.
 */
const DEV_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self' ws://localhost:* ws://127.0.0.1:*",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

function devCsp(): Plugin {
  return {
    name: 'steno:dev-csp',
    apply: 'serve',
    transformIndexHtml(html) {
      const meta = /(http-equiv="Content-Security-Policy"\s+content=")[^"]*(")/;
      if (!meta.test(html))
        throw new Error('src/renderer/index.html lost its Content-Security-Policy meta tag');
      return html.replace(meta, `$1${DEV_CSP}$2`);
    },
  };
}

export default defineConfig({
  main: {
    build: {
      externalizeDeps: { include: NATIVE_ADDONS },
      rolldownOptions: {
        // Two entries, two files: out/main/index.js (the Electron shell) and
        // out/main/host.js (the model host, started by utilityProcess.fork or
        // child_process.fork). Code both import goes to out/main/chunks/.
        input: {
          index: fromRoot('src/main/electron/index.ts'),
          host: fromRoot('src/host/index.ts'),
        },
        output: { format: 'es', entryFileNames: '[name].js' },
      },
    },
  },
  preload: {
    build: {
      // A sandboxed preload is evaluated as a classic script with a small
      // `require` that knows only `electron` and a few builtins: it must be one
      // CommonJS file with nothing from node_modules.
      externalizeDeps: false,
      rolldownOptions: {
        input: { index: fromRoot('src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs', codeSplitting: false },
      },
    },
  },
  renderer: {
    root: fromRoot('src/renderer'),
    plugins: [react(), devCsp()],
    build: {
      rolldownOptions: { input: { index: fromRoot('src/renderer/index.html') } },
    },
  },
});
