/**
 * The whole surface the page can reach: `window.steno`. The preload builds it
 * (bridge.ts); the renderer imports these types only (`import type`) and
 * checks every value that comes through, as it would from any other process.
 * Nothing raw (no ipcRenderer, no Node) crosses.
 */
import type { CommandName } from '../core/api/commands';
import type { StenoEvent } from '../core/api/events';
import type { ApiError } from '../core/api/types';

/**
 * What a failed call rejects with: a plain `{ code, message, action }`, not
 * an Error, because the context bridge keeps only an Error's message.
 */
export type BridgeError = ApiError;

/** Every command of the API: resolves with the result as it arrived (unchecked). */
export type BridgeCommands = {
  readonly [K in CommandName]: (params?: unknown) => Promise<unknown>;
};

export interface StenoBridge extends BridgeCommands {
  /** Every event the main process sends that passes the API's schema; returns the unsubscribe. */
  onEvent(listener: (event: StenoEvent) => void): () => void;
}
