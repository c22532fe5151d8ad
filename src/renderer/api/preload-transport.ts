/**
 * The client over the preload bridge (`window.steno`) in Electron. The bridge
 * is ours, but what comes through it is checked again here, as from any other
 * process: every result against its command's schema, every event against
 * the event schema, every rejection against the error schema.
 */
import { commandFunctions, type RawCall, type StenoClient } from '../../core/api/client';
import type { StenoEvent } from '../../core/api/events';
import { ErrorSchema } from '../../core/api/types';
import { parseEvent } from '../../core/api/wire';
import { StenoError } from '../../core/errors';
import type { StenoBridge } from '../../preload/api';

declare global {
  interface Window {
    /** Set by the preload in Electron; absent in a browser. */
    readonly steno?: StenoBridge;
  }
}

/** A rejection from the bridge as the StenoError a caller catches. */
function bridgeRejection(e: unknown, command: string): StenoError {
  const wire = ErrorSchema.safeParse(e);
  if (wire.success) return StenoError.fromWire(wire.data);
  return new StenoError(
    'INTERNAL',
    `The ${command} call failed in the window's bridge: ${(e as Error)?.message ?? String(e)}.`,
    'Reload the window; if it happens again, restart Steno.',
  );
}

export function preloadClient(
  bridge: StenoBridge,
  onDroppedEvent: (issue: string) => void = (issue) =>
    console.warn(`steno: an event was dropped: ${issue}`),
): StenoClient {
  const call: RawCall = async (command, params) => {
    const fn = bridge[command];
    if (typeof fn !== 'function') {
      throw new StenoError(
        'UNKNOWN_COMMAND',
        `This window's bridge has no command "${command}".`,
        'Restart Steno; the window and the app are different versions.',
      );
    }
    try {
      return await fn(params);
    } catch (e) {
      throw bridgeRejection(e, command);
    }
  };
  return {
    ...commandFunctions(call),
    onEvent(listener: (event: StenoEvent) => void): () => void {
      return bridge.onEvent((raw: unknown) => {
        const event = parseEvent(raw);
        if (event === null) {
          onDroppedEvent('an event from the bridge does not match the API schema');
          return;
        }
        listener(event);
      });
    },
  };
}
