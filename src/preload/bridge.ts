/**
 * What `window.steno` does, written against a structural `ipcRenderer` so it
 * is tested in Node: each command invokes its own channel
 * (`ipcCommandChannel`) with the API version and its params, and the outcome
 * is checked before the page sees it; each event is
 * checked against the API's schema, and a malformed one is dropped.
 */
import { z } from 'zod';
import { COMMAND_NAMES, type CommandName } from '../core/api/commands';
import type { StenoEvent } from '../core/api/events';
import { ErrorSchema, LIMITS } from '../core/api/types';
import { API_VERSION } from '../core/api/version';
import { describeIssues, ipcCommandChannel, IPC_EVENT_CHANNEL, parseEvent } from '../core/api/wire';
import { onUnexpectedError } from '../core/unexpected-error';
import type { BridgeError, StenoBridge } from './api';

/** The part of Electron's `ipcRenderer` the bridge uses. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

/** The reply on a command's channel: the backend's CallOutcome. */
const OutcomeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: ErrorSchema }),
]);

/**
 * Event listeners the page may hold at once. Capacity: 16; one more throws,
 * since a page that keeps subscribing without unsubscribing leaks.
 */
export const MAX_EVENT_LISTENERS = 16;

export interface BridgeOptions {
  /** A malformed event was dropped (default: a console warning). */
  onDroppedEvent?: (issue: string) => void;
}

function bridgeError(code: BridgeError['code'], message: string, action: string): BridgeError {
  return { code, message: message.slice(0, LIMITS.messageChars), action };
}

export function createStenoBridge(ipc: IpcRendererLike, options: BridgeOptions = {}): StenoBridge {
  const onDroppedEvent =
    options.onDroppedEvent ??
    ((issue: string) => console.warn(`steno: an event was dropped: ${issue}`));

  async function call(command: CommandName, params: unknown): Promise<unknown> {
    let reply: unknown;
    try {
      reply = await ipc.invoke(ipcCommandChannel(command), { apiVersion: API_VERSION, params });
    } catch (e) {
      // The call never reached the backend (no handler yet, params that cannot be cloned).
      throw bridgeError(
        'INTERNAL',
        `The ${command} call did not reach Steno: ${(e as Error)?.message ?? String(e)}.`,
        'Reload the window; if it happens again, restart Steno.',
      );
    }
    const outcome = OutcomeSchema.safeParse(reply);
    if (!outcome.success) {
      throw bridgeError(
        'INVALID_PAYLOAD',
        `The reply to ${command} is malformed: ${describeIssues(outcome.error)}.`,
        'Reload the window; Steno and this window may be different versions.',
      );
    }
    if (!outcome.data.ok) {
      const { code, message, action } = outcome.data.error;
      throw bridgeError(code, message, action);
    }
    return outcome.data.result;
  }

  const commands: Record<string, (params?: unknown) => Promise<unknown>> = {};
  for (const name of COMMAND_NAMES) commands[name] = (params) => call(name, params ?? {});

  /** One receiver per subscription; capacity MAX_EVENT_LISTENERS. */
  const receivers = new Set<(event: unknown, payload: unknown) => void>();

  function onEvent(listener: (event: StenoEvent) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('onEvent needs a function');
    if (receivers.size >= MAX_EVENT_LISTENERS) {
      throw new Error(`more than ${MAX_EVENT_LISTENERS} event listeners; a subscription leaks`);
    }
    const receive = (_event: unknown, payload: unknown): void => {
      const event = parseEvent(payload);
      if (event === null) {
        const type = (payload as { type?: unknown } | null)?.type;
        onDroppedEvent(`"${String(type).slice(0, 64)}" does not match the API's schema`);
        return;
      }
      try {
        listener(event);
      } catch (e) {
        // The page's listener threw: the next event and the other listeners still arrive.
        onUnexpectedError(e);
      }
    };
    receivers.add(receive);
    ipc.on(IPC_EVENT_CHANNEL, receive);
    return () => {
      if (receivers.delete(receive)) ipc.removeListener(IPC_EVENT_CHANNEL, receive);
    };
  }

  return Object.freeze({ ...commands, onEvent }) as StenoBridge;
}
