/**
 * The model host: a separate process that will own the models (VAD, Whisper,
 * speaker embeddings), so ending it is how their memory is given back. Started
 * by `utilityProcess.fork` in Electron and `child_process.fork` in Node; the
 * difference stays in ./parent-port.
 *
 * Protocol for now: `{type:'ping', id}` -> `{type:'pong', id}`;
 * `{type:'shutdown'}` -> exit 0. Anything else -> `{type:'error', ...}`.
 * If the parent disconnects, the host exits: it must never outlive the app.
 */
import { DisposableStore } from '../core/lifecycle';
import { NoParentError, connectToParent, type ParentPort } from './parent-port';

export type HostRequest =
  { readonly type: 'ping'; readonly id: number } | { readonly type: 'shutdown' };

export type HostReply =
  | { readonly type: 'pong'; readonly id: number }
  | { readonly type: 'error'; readonly code: 'bad-message'; readonly message: string };

export function parseHostRequest(value: unknown): HostRequest | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.type === 'ping' && typeof v.id === 'number' && Number.isSafeInteger(v.id))
    return { type: 'ping', id: v.id };
  if (v.type === 'shutdown') return { type: 'shutdown' };
  return undefined;
}

function runHost(port: ParentPort): void {
  const store = new DisposableStore();
  const reply = (message: HostReply): void => port.postMessage(message);
  const exit = (): void => {
    store.dispose();
    process.exit(0);
  };

  store.add(
    port.onDidReceiveMessage((raw) => {
      const request = parseHostRequest(raw);
      if (!request) {
        reply({
          type: 'error',
          code: 'bad-message',
          message: 'The model host received a message it does not know.',
        });
        return;
      }
      switch (request.type) {
        case 'ping':
          reply({ type: 'pong', id: request.id });
          return;
        case 'shutdown':
          exit();
          return;
      }
    }),
  );
  store.add(port.onDidDisconnect(exit));
}

try {
  runHost(connectToParent());
} catch (error) {
  if (!(error instanceof NoParentError)) throw error;
  console.error(error.message);
  process.exit(2);
}
