import os from 'node:os';
import path from 'node:path';

/**
 * Where Steno keeps its data when no Electron `userData` path is given:
 * `$STENO_HOME`, else the platform's user data directory
 * (Linux: `$XDG_DATA_HOME/steno` or `~/.local/share/steno`).
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STENO_HOME) return path.resolve(env.STENO_HOME);
  const home = os.homedir();
  switch (process.platform) {
    case 'darwin':
      return path.join(home, 'Library', 'Application Support', 'Steno');
    case 'win32':
      return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'Steno');
    default:
      return path.join(env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), 'steno');
  }
}

/** Recordings live in `<data dir>/recordings/<id>/` unless `--out` says otherwise. */
export function defaultRecordingsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(defaultDataDir(env), 'recordings');
}
