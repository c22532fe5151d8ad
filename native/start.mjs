// `npm start`: build Steno and open its window with Electron.
//
// It runs `electron-vite preview`, which builds main, preload and renderer into
// out/ and then launches Electron on the built app: `npm start` shows what ships
// (strict CSP, renderer from a file). For hot reload during development use
// `npx electron-vite dev` instead.
//
// Electron's binary is missing when npm installed with
// ELECTRON_SKIP_BINARY_DOWNLOAD=1 (offline, and in CI). We look for it without
// `require('electron')`: that call tries to download the binary right then
// (network, output on stdout) and throws when it cannot.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

const MISSING_BINARY =
  "Steno's window needs Electron's binary, which is not installed on this machine (it was installed offline); " +
  'run `npm install` with network access to fetch it, or use the CLI: `npm run steno -- --help`.';

/** The Electron executable electron-vite would start, or undefined when absent. */
function findElectronBinary() {
  const explicit = process.env.ELECTRON_EXEC_PATH;
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  let packageDir;
  try {
    packageDir = dirname(require.resolve('electron/package.json'));
  } catch {
    return undefined;
  }
  const pathFile = join(packageDir, 'path.txt');
  if (!existsSync(pathFile)) return undefined;
  const relative = readFileSync(pathFile, 'utf8').trim();
  if (!relative) return undefined;
  const distDir = process.env.ELECTRON_OVERRIDE_DIST_PATH || join(packageDir, 'dist');
  const binary = join(distDir, relative);
  return existsSync(binary) ? binary : undefined;
}

function main() {
  const binary = findElectronBinary();
  if (!binary) {
    console.error(MISSING_BINARY);
    process.exitCode = 1;
    return;
  }
  const electronVite = join(
    dirname(require.resolve('electron-vite/package.json')),
    'bin',
    'electron-vite.js',
  );
  const child = spawn(process.execPath, [electronVite, 'preview', ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, ELECTRON_EXEC_PATH: binary },
  });
  // Ctrl-C reaches the whole process group; these cover a signal sent to us alone.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
  }
  child.on('error', (error) => {
    console.error(`Steno could not start electron-vite: ${error.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

main();
