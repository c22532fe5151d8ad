import type { StenoApi } from '../preload/api';

/**
 * The preload's API, or `undefined` when the page runs outside Electron (a
 * plain browser, the e2e tests before the WebSocket bridge exists).
 */
export function getStenoApi(): StenoApi | undefined {
  return (window as Window & { steno?: StenoApi }).steno;
}
