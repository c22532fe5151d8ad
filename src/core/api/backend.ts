/**
 * What every adapter (CLI, Electron IPC, `steno serve`) holds: the services
 * behind one door. An adapter turns its transport into `call` and forwards
 * `onDidEvent`; it has no logic of its own.
 */
import type { Event } from '../event';
import type { StenoEvent } from './events';
import type { AppState, ApiError } from './types';

export type CallOutcome = { ok: true; result: unknown } | { ok: false; error: ApiError };

export interface ApiBackend {
  /**
   * Runs one command. Never throws and never rejects: an unknown command, a
   * malformed payload or a failure comes back as `{ ok: false, error }`.
   */
  call(command: unknown, params: unknown): Promise<CallOutcome>;
  /** Every event, in the order it happened. */
  readonly onDidEvent: Event<StenoEvent>;
  /** The current state, for a client that connects or resynchronises. */
  currentState(): AppState;
}
