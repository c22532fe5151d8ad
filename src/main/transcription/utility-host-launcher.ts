import { Emitter } from '../../core/event';
import { Disposable, toDisposable } from '../../core/lifecycle';
import { parseHostToMain, type HostToMain, type MainToHost } from '../../core/host-protocol';
import {
  HOST_ENV,
  hostEntry,
  type HostConnection,
  type HostExit,
  type HostLauncher,
} from './host-process';

/**
 * The part of Electron's `utilityProcess` API the model host needs, as a
 * structural type: this module stays free of an `electron` import (only
 * src/main/electron imports it) and is tested in Node with a stand-in.
 */
export interface UtilityProcessApi {
  fork(
    modulePath: string,
    args: string[],
    options: {
      env: Record<string, string | undefined>;
      execArgv: string[];
      serviceName: string;
      stdio: 'pipe';
    },
  ): UtilityProcessLike;
}

export interface UtilityProcessLike {
  /** Electron: undefined until 'spawn', and again after 'exit'. */
  readonly pid: number | undefined;
  readonly stdout: NodeJS.ReadableStream | null;
  readonly stderr: NodeJS.ReadableStream | null;
  postMessage(message: unknown): void;
  /** Electron: SIGTERM on POSIX. */
  kill(): boolean;
  on(event: 'spawn', listener: () => void): this;
  on(event: 'message', listener: (message: unknown) => void): this;
  on(event: 'exit', listener: (code: number) => void): this;
  on(event: 'error', listener: (...args: unknown[]) => void): this;
  off(event: 'spawn', listener: () => void): this;
  off(event: 'message', listener: (message: unknown) => void): this;
  off(event: 'error', listener: (...args: unknown[]) => void): this;
  once(event: 'exit', listener: (code: number) => void): this;
}

const STDERR_TAIL_BYTES = 8192;

/**
 * Starts the model host with Electron's `utilityProcess.fork`: in the app the
 * host is a Chromium-managed utility process (it shows in the task manager
 * and is reaped with the app), with the same allocator setting and the same
 * HostConnection interface as `nodeHostLauncher`.
 */
export function utilityHostLauncher(api: UtilityProcessApi): HostLauncher {
  return () => {
    const entry = hostEntry();
    const child = api.fork(entry.file, [], {
      env: { ...process.env, ...HOST_ENV },
      execArgv: entry.execArgv,
      serviceName: 'Steno model host',
      stdio: 'pipe',
    });
    return new UtilityHostConnection(child);
  };
}

export class UtilityHostConnection extends Disposable implements HostConnection {
  private readonly messageEmitter = this._register(new Emitter<HostToMain>());
  private readonly exitEmitter = this._register(new Emitter<HostExit>());
  readonly onDidMessage = this.messageEmitter.event;
  readonly onDidExit = this.exitEmitter.event;
  readonly exited: Promise<HostExit>;
  /** Kept once known: Electron sets `pid` only at 'spawn' and clears it at 'exit'. */
  private knownPid: number | undefined;
  private killWhenSpawned = false;
  private tail = '';
  /** Messages from the host that were not the protocol's shape; dropped. */
  malformedMessages = 0;
  private hasExited = false;

  constructor(private readonly child: UtilityProcessLike) {
    super();
    this.knownPid = child.pid;
    const onSpawn = () => {
      this.knownPid ??= child.pid;
      if (this.killWhenSpawned) this.kill();
    };
    child.on('spawn', onSpawn);
    const onMessage = (raw: unknown) => {
      const m = parseHostToMain(raw);
      if (m) this.messageEmitter.fire(m);
      else this.malformedMessages++;
    };
    child.on('message', onMessage);
    // Both pipes must be drained or a chatty host blocks on a full pipe.
    const onOutput = (d: Buffer | string) => {
      this.tail = (this.tail + d.toString()).slice(-STDERR_TAIL_BYTES);
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    // A fatal V8 error in the host ('error') is followed by 'exit', which tells
    // the owner what happened.
    const onError = () => {};
    child.on('error', onError);
    this.exited = new Promise<HostExit>((resolve) => {
      child.once('exit', (code) => {
        this.hasExited = true;
        // Electron reports an exit code only, also for a signal.
        const exit: HostExit = { code, signal: null };
        resolve(exit);
        this.exitEmitter.fire(exit);
      });
    });
    this._register(
      toDisposable(() => {
        this.kill();
        // A host not yet spawned is killed when it is: that listener stays.
        if (!this.killWhenSpawned) child.off('spawn', onSpawn);
        child.off('message', onMessage);
        child.off('error', onError);
        child.stdout?.removeListener('data', onOutput);
        child.stderr?.removeListener('data', onOutput);
      }),
    );
  }

  get pid(): number | undefined {
    if (this.knownPid === undefined && !this.hasExited) this.knownPid = this.child.pid;
    return this.knownPid;
  }

  get stderrTail(): string {
    return this.tail;
  }

  send(message: MainToHost): void {
    if (this.hasExited) return;
    this.child.postMessage(message);
  }

  /**
   * Ends the host at once. Electron's `kill()` sends SIGTERM, which a host
   * stuck inside a native call may not act on; SIGKILL cannot be ignored.
   */
  kill(): void {
    if (this.hasExited) return;
    const pid = this.pid;
    if (pid === undefined) {
      // Not spawned yet (or spawning failed): ask now, and SIGKILL at 'spawn'.
      this.killWhenSpawned = true;
      this.child.kill();
      return;
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone: 'exit' follows.
    }
  }
}
