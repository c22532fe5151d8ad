import { createRequire } from 'node:module';

/** Steno's version, from package.json (read once; the CLI and `steno serve` report it). */
export const STENO_VERSION: string = (() => {
  try {
    const nodeRequire = createRequire(import.meta.url);
    return (nodeRequire('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
