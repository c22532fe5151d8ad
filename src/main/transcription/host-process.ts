import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Emitter, type Event } from '../../core/event';
import { Disposable, toDisposable, type IDisposable } from '../../core/lifecycle';
import { parseHostToMain, type HostToMain, type MainToHost } from '../../core/host-protocol';

/**
 * One running model-host process, whatever started it. Node (CLI, tests,
 * benchmarks) uses `child_process.fork`; the Electron shell provides a launcher
 * over `utilityProcess.fork` with the same interface.
 */
export interface HostConnection extends IDisposable {
  readonly pid: number | undefined;
  readonly onDidMessage: Event<HostToMain>;
  /** Fires once when the process has exited (for any reason). */
  readonly onDidExit: Event<HostExit>;
  readonly exited: Promise<HostExit>;
  send(message: MainToHost): void;
  /** Ends the process at once (SIGKILL). */
  kill(): void;
  /** The last lines the host wrote to stderr, for crash reports (at most 8 KiB). */
  readonly stderrTail: string;
  /** Messages that were not the protocol's shape: dropped, never delivered. */
  readonly malformedMessages: number;
}

export interface HostExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type HostLauncher = () => HostConnection;

/**
 * glibc allocator settings for the host. The mmap threshold is DESIGN.md's:
 * it kept the host's RSS at 84 MB instead of 337 MB after model load/free
 * cycles. With it alone, whisper.cpp's allocations still land in a new malloc
 * arena now and then (its worker threads come and go, up to 8 arenas a core)
 * and each arena keeps what it once held: RSS rose in steps over 100
 * load/transcribe/free cycles (95 -> 116 MB). With two arenas it still rose
 * 95 -> 105 MB until about cycle 60 (flat from there to 250); with one it
 * rose 93 -> 95 MB by cycle 50 and the embedder's stayed at 114-115 MB
 * instead of 142 (src/host/native-cycles.test.ts's child, runs by hand). The
 * host's threads hardly allocate while they compute (ggml and onnxruntime
 * keep their own buffers), so one arena costs no contention that shows.
 */
export const HOST_ENV = { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_ARENA_MAX: '1' } as const;
const STDERR_TAIL_BYTES = 8192;

/**
 * Where the host entry is: the TypeScript source when running from sources
 * (CLI via tsx, tests), the bundled out/main/host.js beside the built main.
 */
export function hostEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    return {
      file: path.resolve(path.dirname(here), '..', '..', 'host', 'index.ts'),
      execArgv: ['--import', 'tsx'],
    };
  }
  const built = path.join(path.dirname(here), 'host.js');
  if (!fs.existsSync(built)) throw new Error(`the model-host bundle is missing: ${built}`);
  return { file: built, execArgv: [] };
}

/** Starts the host with `child_process.fork`. */
export const nodeHostLauncher: HostLauncher = () => {
  const entry = hostEntry();
  const child = fork(entry.file, [], {
    execArgv: entry.execArgv,
    env: { ...process.env, ...HOST_ENV },
    // Structured clone: Float32Array audio crosses without JSON inflation.
    serialization: 'advanced',
    // The host's stdout/stderr (whisper.cpp prints) never mix with the CLI's.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  return new ChildHostConnection(child);
};

class ChildHostConnection extends Disposable implements HostConnection {
  private readonly messageEmitter = this._register(new Emitter<HostToMain>());
  private readonly exitEmitter = this._register(new Emitter<HostExit>());
  readonly onDidMessage = this.messageEmitter.event;
  readonly onDidExit = this.exitEmitter.event;
  readonly exited: Promise<HostExit>;
  private tail = '';
  /** Messages from the host that were not the protocol's shape; dropped. */
  malformedMessages = 0;
  private hasExited = false;

  constructor(private readonly child: ChildProcess) {
    super();
    const onMessage = (raw: unknown) => {
      const m = parseHostToMain(raw);
      if (m) this.messageEmitter.fire(m);
      else this.malformedMessages++;
    };
    child.on('message', onMessage);
    // Both pipes must be drained or a chatty host blocks on a full pipe.
    const onOutput = (d: Buffer) => {
      this.tail = (this.tail + d.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    // An IPC send racing the child's death reports EPIPE here; the exit event
    // tells the owner what happened.
    const onError = () => {};
    child.on('error', onError);
    this.exited = new Promise<HostExit>((resolve) => {
      child.once('exit', (code, signal) => {
        this.hasExited = true;
        const exit = { code, signal };
        resolve(exit);
        this.exitEmitter.fire(exit);
      });
    });
    this._register(
      toDisposable(() => {
        child.off('message', onMessage);
        child.stdout?.off('data', onOutput);
        child.stderr?.off('data', onOutput);
        if (!this.hasExited) child.kill('SIGKILL');
      }),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stderrTail(): string {
    return this.tail;
  }

  send(message: MainToHost): void {
    if (this.hasExited || !this.child.connected) return;
    this.child.send(message);
  }

  kill(): void {
    if (!this.hasExited) this.child.kill('SIGKILL');
  }
}
