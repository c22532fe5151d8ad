/**
 * The one interface the renderer (and any other front end) talks to. Two
 * transports implement it: the preload bridge in Electron and a WebSocket in
 * a browser; no component knows which it has.
 */
import { StenoError } from '../errors';
import { COMMAND_NAMES, type CommandName, type StenoCommands } from './commands';
import type { StenoEvent } from './events';
import { parseResult } from './wire';

export interface StenoClient extends StenoCommands {
  /** Every event; returns the unsubscribe. */
  onEvent(listener: (event: StenoEvent) => void): () => void;
}

/** The raw call a transport offers: resolves with the result, rejects with a StenoError. */
export type RawCall = (command: CommandName, params: unknown) => Promise<unknown>;

/** The commands as functions over a transport, each result checked before it is trusted. */
export function commandFunctions(call: RawCall): StenoCommands {
  const out: Record<string, (params: unknown) => Promise<unknown>> = {};
  for (const name of COMMAND_NAMES) {
    out[name] = async (params: unknown) => parseResult(name, await call(name, params ?? {}));
  }
  return out as unknown as StenoCommands;
}

/** A failed reply as the error a caller catches. */
export function replyError(error: { code: string; message: string; action: string }): StenoError {
  return StenoError.fromWire(error);
}
