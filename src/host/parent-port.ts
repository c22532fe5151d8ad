import { toDisposable, type IDisposable } from '../core/lifecycle';

/**
 * The model host talks to whoever started it through this one interface. Two
 * transports hide behind it:
 *
 * - Electron's `utilityProcess.fork`: `process.parentPort`, messages arrive as
 *   `{ data }` events and leave through `parentPort.postMessage`.
 * - Node's `child_process.fork`: the IPC channel, `process.on('message')` and
 *   `process.send`, with a `'disconnect'` event when the parent goes away.
 *
 * Messages are structured-clone/JSON values on both; nothing else differs.
 */
export interface ParentPort {
  readonly transport: 'utility-process' | 'child-process';
  postMessage(message: unknown): void;
  onDidReceiveMessage(listener: (message: unknown) => void): IDisposable;
  /**
   * Fires once when the parent can no longer be reached. Only the child-process
   * transport reports it: Electron ends a utility process itself when the app
   * (its parent) exits or crashes, so there is nothing to observe there.
   */
  onDidDisconnect(listener: () => void): IDisposable;
}

/** The part of Electron's `process.parentPort` the adapter uses. */
interface ElectronParentPortLike {
  on(event: 'message', listener: (event: { data: unknown }) => void): unknown;
  off(event: 'message', listener: (event: { data: unknown }) => void): unknown;
  postMessage(message: unknown): void;
}

/** The part of `process` the adapter uses; tests pass a fake. */
export interface HostProcessLike {
  parentPort?: ElectronParentPortLike;
  send?: (message: unknown) => boolean;
  connected?: boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
}

export class NoParentError extends Error {
  constructor() {
    super(
      'The model host must be started by Steno (utilityProcess.fork or child_process.fork); it has no parent to talk to.',
    );
    this.name = 'NoParentError';
  }
}

export function connectToParent(
  proc: HostProcessLike = process as unknown as HostProcessLike,
): ParentPort {
  const port = proc.parentPort;
  if (port) return utilityProcessPort(port);
  if (typeof proc.send === 'function') return childProcessPort(proc);
  throw new NoParentError();
}

function utilityProcessPort(port: ElectronParentPortLike): ParentPort {
  return {
    transport: 'utility-process',
    postMessage: (message) => port.postMessage(message),
    onDidReceiveMessage(listener) {
      const onMessage = (event: { data: unknown }): void => listener(event.data);
      port.on('message', onMessage);
      return toDisposable(() => port.off('message', onMessage));
    },
    onDidDisconnect() {
      return toDisposable(() => {});
    },
  };
}

function childProcessPort(proc: HostProcessLike): ParentPort {
  return {
    transport: 'child-process',
    postMessage(message) {
      // After a disconnect `send` would emit an error; the parent is gone anyway.
      if (proc.connected !== false) proc.send?.(message);
    },
    onDidReceiveMessage(listener) {
      const onMessage = (message: unknown): void => listener(message);
      proc.on('message', onMessage);
      return toDisposable(() => proc.off('message', onMessage));
    },
    onDidDisconnect(listener) {
      const onDisconnect = (): void => listener();
      proc.on('disconnect', onDisconnect);
      return toDisposable(() => proc.off('disconnect', onDisconnect));
    },
  };
}
