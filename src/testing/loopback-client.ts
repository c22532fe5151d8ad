/**
 * A StenoClient straight over a backend, in the same process: what a
 * transport does minus the transport (each value still copied, as a process
 * boundary would). For tests of the renderer's store and its sync.
 */
import type { ApiBackend } from '../core/api/backend';
import { commandFunctions, replyError, type RawCall, type StenoClient } from '../core/api/client';

export function loopbackClient(backend: ApiBackend): StenoClient {
  const call: RawCall = async (command, params) => {
    const outcome = await backend.call(command, structuredClone(params));
    if (!outcome.ok) throw replyError(outcome.error);
    return structuredClone(outcome.result);
  };
  return {
    ...commandFunctions(call),
    onEvent(listener) {
      const subscription = backend.onDidEvent((event) => listener(structuredClone(event)));
      return () => subscription.dispose();
    },
  };
}
