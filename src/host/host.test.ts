import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NoParentError, connectToParent, type HostProcessLike } from './parent-port';
import { isProcessAlive } from '../main/process-alive';

const HOST_ENTRY = fileURLToPath(new URL('./index.ts', import.meta.url));
const TIMEOUT_MS = 20_000;

const started: ChildProcess[] = [];

afterEach(() => {
  // A failed assertion must not leave a host running.
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

function startHost(): ChildProcess {
  const child = fork(HOST_ENTRY, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  started.push(child);
  return child;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function nextMessage(child: ChildProcess): Promise<unknown> {
  return withTimeout(
    new Promise((resolve) => child.once('message', resolve)),
    'a message from the host',
  );
}

function exited(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return withTimeout(
    new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    'the host to exit',
  );
}

describe('model host process', () => {
  it('answers ping with pong and exits 0 on shutdown, leaving no process', async () => {
    const child = startHost();
    const pid = child.pid;
    expect(pid).toBeTypeOf('number');

    const reply = nextMessage(child);
    child.send({ type: 'ping', id: 7 });
    expect(await reply).toMatchObject({ type: 'pong', id: 7 });

    const exit = exited(child);
    child.send({ type: 'shutdown' });
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(isProcessAlive(pid as number)).toBe(false);
  });

  it('answers a malformed message with an error and keeps serving', async () => {
    const child = startHost();

    let reply = nextMessage(child);
    child.send({ type: 'ping', id: 'not-a-number' });
    expect(await reply).toMatchObject({
      type: 'error',
      id: null,
      error: { code: 'INVALID_PAYLOAD', message: expect.any(String), action: expect.any(String) },
    });

    reply = nextMessage(child);
    child.send({ type: 'ping', id: 8 });
    expect(await reply).toMatchObject({ type: 'pong', id: 8 });

    const exit = exited(child);
    child.send({ type: 'shutdown' });
    expect(await exit).toEqual({ code: 0, signal: null });
  });

  it('exits when its parent disconnects', async () => {
    const child = startHost();
    const pid = child.pid as number;
    // Wait until it serves, so the disconnect is not mistaken for a failed start.
    const reply = nextMessage(child);
    child.send({ type: 'ping', id: 1 });
    await reply;

    const exit = exited(child);
    child.disconnect();
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(isProcessAlive(pid)).toBe(false);
  });
});

describe('parent port adapter', () => {
  class FakeProcess extends EventEmitter {
    sent: unknown[] = [];
    connected = true;
    send = (message: unknown): boolean => {
      this.sent.push(message);
      return true;
    };
  }

  it('speaks utilityProcess parentPort: unwraps { data } and posts replies', () => {
    const posted: unknown[] = [];
    const parentPort = Object.assign(new EventEmitter(), {
      postMessage: (m: unknown) => posted.push(m),
    });
    const proc = Object.assign(new EventEmitter(), { parentPort }) as unknown as HostProcessLike;

    const port = connectToParent(proc);
    expect(port.transport).toBe('utility-process');
    const received: unknown[] = [];
    const subscription = port.onDidReceiveMessage((m) => received.push(m));
    parentPort.emit('message', { data: { type: 'ping', id: 1 } });
    port.postMessage({ type: 'pong', id: 1 });
    subscription.dispose();
    parentPort.emit('message', { data: 'after dispose' });
    port.onDidDisconnect(() => {}).dispose();

    expect(received).toEqual([{ type: 'ping', id: 1 }]);
    expect(posted).toEqual([{ type: 'pong', id: 1 }]);
    expect(parentPort.listenerCount('message')).toBe(0);
  });

  it('speaks child_process IPC: message, send and disconnect', () => {
    const proc = new FakeProcess();
    const port = connectToParent(proc as unknown as HostProcessLike);
    expect(port.transport).toBe('child-process');

    const received: unknown[] = [];
    let disconnects = 0;
    const onMessage = port.onDidReceiveMessage((m) => received.push(m));
    const onDisconnect = port.onDidDisconnect(() => disconnects++);
    proc.emit('message', { type: 'shutdown' });
    port.postMessage({ type: 'pong', id: 2 });
    proc.connected = false;
    proc.emit('disconnect');
    port.postMessage('dropped: the parent is gone');
    onMessage.dispose();
    onDisconnect.dispose();

    expect(received).toEqual([{ type: 'shutdown' }]);
    expect(proc.sent).toEqual([{ type: 'pong', id: 2 }]);
    expect(disconnects).toBe(1);
    expect(proc.listenerCount('message') + proc.listenerCount('disconnect')).toBe(0);
  });

  it('refuses to start without a parent', () => {
    const proc = new EventEmitter() as unknown as HostProcessLike;
    expect(() => connectToParent(proc)).toThrow(NoParentError);
  });
});
