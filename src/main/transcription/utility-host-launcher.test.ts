import { fork, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostModelPaths } from '../../core/host-protocol';
import { testModels } from '../../testing/test-models';
import { bundledVadModelPath } from '../models';
import { ModelHostSupervisor } from './supervisor';
import {
  UtilityHostConnection,
  utilityHostLauncher,
  type UtilityProcessApi,
  type UtilityProcessLike,
} from './utility-host-launcher';
import { isProcessAlive } from '../process-alive';
import { TEST_HOST_OPTIONS } from '../../testing/test-models';

/**
 * Electron's UtilityProcess as Node can provide it: a real child process with
 * Electron's event shapes ('message' with the bare message, 'exit' with a
 * code only, `pid` cleared after exit, `kill()` sending SIGTERM).
 */
class ForkedUtilityProcess extends EventEmitter implements UtilityProcessLike {
  private readonly child: ChildProcess;
  private exited = false;
  /** The signal that ended the process, which Electron does not report. */
  exitSignal: NodeJS.Signals | null = null;
  readonly forkOptions: Parameters<UtilityProcessApi['fork']>[2];

  constructor(
    modulePath: string,
    args: string[],
    options: Parameters<UtilityProcessApi['fork']>[2],
  ) {
    super();
    this.forkOptions = options;
    this.child = fork(modulePath, args, {
      env: options.env,
      execArgv: options.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child.once('spawn', () => {
      this.spawned = true;
      this.emit('spawn');
    });
    this.child.on('message', (m) => this.emit('message', m));
    this.child.on('error', () => {});
    this.child.once('exit', (code, signal) => {
      this.exited = true;
      this.exitSignal = signal;
      this.emit('exit', code ?? (signal ? 128 : 0));
    });
  }

  private spawned = false;

  get pid(): number | undefined {
    return this.spawned && !this.exited ? this.child.pid : undefined;
  }
  get stdout(): NodeJS.ReadableStream | null {
    return this.child.stdout;
  }
  get stderr(): NodeJS.ReadableStream | null {
    return this.child.stderr;
  }
  postMessage(message: unknown): void {
    this.child.send(message as never);
  }
  kill(): boolean {
    return this.child.kill('SIGTERM');
  }
}

/** A utility process that never runs: for what the connection does with events. */
class ScriptedUtilityProcess extends EventEmitter implements UtilityProcessLike {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly posted: unknown[] = [];
  killCalls = 0;
  constructor(public pid: number | undefined) {
    super();
  }
  postMessage(message: unknown): void {
    this.posted.push(message);
  }
  kill(): boolean {
    this.killCalls++;
    return true;
  }
}

describe('UtilityHostConnection (Electron utilityProcess adapter)', () => {
  it('passes messages both ways, keeps the last 8 KiB of output, and stops sending after exit', async () => {
    const child = new ScriptedUtilityProcess(undefined);
    const conn = new UtilityHostConnection(child);
    const received: unknown[] = [];
    const sub = conn.onDidMessage((m) => received.push(m));
    conn.send({ type: 'ping', id: 1 });
    child.emit('message', { type: 'pong', id: 1, rssBytes: 5 });
    expect(child.posted).toEqual([{ type: 'ping', id: 1 }]);
    expect(received).toEqual([{ type: 'pong', id: 1, rssBytes: 5 }]);

    child.stderr.write('x'.repeat(10_000));
    child.stdout.write('last words');
    await new Promise((r) => setImmediate(r));
    expect(conn.stderrTail.length).toBe(8192);
    expect(conn.stderrTail.endsWith('last words')).toBe(true);

    child.emit('exit', 9);
    await expect(conn.exited).resolves.toEqual({ code: 9, signal: null });
    conn.send({ type: 'ping', id: 2 });
    expect(child.posted).toHaveLength(1);
    // Killing an exited host does nothing.
    conn.kill();
    expect(child.killCalls).toBe(0);
    sub.dispose();
    conn.dispose();
    expect(child.listenerCount('message')).toBe(0);
  });

  it('learns the pid at spawn; a kill before spawn asks at once and SIGKILLs at spawn', async () => {
    // A real process stands in for the host, so that SIGKILL has a target.
    const sleeper = spawn('sleep', ['30']);
    const ended = once(sleeper, 'exit');
    const child = new ScriptedUtilityProcess(undefined);
    const conn = new UtilityHostConnection(child);
    expect(conn.pid).toBeUndefined();
    conn.kill();
    expect(child.killCalls).toBe(1);
    child.pid = sleeper.pid;
    child.emit('spawn');
    expect(conn.pid).toBe(sleeper.pid);
    const [, signal] = (await ended) as [number | null, NodeJS.Signals | null];
    expect(signal).toBe('SIGKILL');
    // Electron clears pid after exit; the connection keeps the one it knew.
    child.pid = undefined;
    child.emit('exit', 137);
    await conn.exited;
    expect(conn.pid).toBe(sleeper.pid);
    conn.dispose();
  });

  it('forks the host entry with the allocator setting, piped output and a service name', () => {
    let seen: { modulePath: string; options: Parameters<UtilityProcessApi['fork']>[2] } | null =
      null;
    const api: UtilityProcessApi = {
      fork: (modulePath, _args, options) => {
        seen = { modulePath, options };
        return new ScriptedUtilityProcess(undefined);
      },
    };
    const conn = utilityHostLauncher(api)();
    expect(seen).not.toBeNull();
    const { modulePath, options } = seen!;
    expect(modulePath).toMatch(/host[\\/]index\.ts$/);
    expect(options.env.MALLOC_MMAP_THRESHOLD_).toBe('131072');
    expect(options.env.MALLOC_ARENA_MAX).toBe('1');
    expect(options.stdio).toBe('pipe');
    expect(options.serviceName).toBe('Steno model host');
    conn.dispose();
  });
});

describe('The real model host through the utilityProcess adapter', () => {
  let models: HostModelPaths;
  beforeAll(async () => {
    const m = await testModels();
    models = { whisper: m.whisper, embedding: m.embedding, vad: bundledVadModelPath() };
  }, 120_000);
  const forked: ForkedUtilityProcess[] = [];
  const api: UtilityProcessApi = {
    fork: (modulePath, args, options) => {
      const p = new ForkedUtilityProcess(modulePath, args, options);
      forked.push(p);
      return p;
    },
  };
  afterAll(() => {
    for (const p of forked) if (p.pid) process.kill(p.pid, 'SIGKILL');
  });

  it('loads the models, answers, and exits on stop with no process left', async () => {
    const s = new ModelHostSupervisor({
      models,
      options: TEST_HOST_OPTIONS,
      launcher: utilityHostLauncher(api),
    });
    const info = await s.start();
    expect(isProcessAlive(info.pid)).toBe(true);
    expect(info.embeddingDimension).toBe(256);
    const pong = await s.request(
      (id) => ({ type: 'ping', id }),
      (m, id) => m.type === 'pong' && m.id === id,
      5000,
    );
    expect(pong.type).toBe('pong');
    await s.stop();
    s.dispose();
    expect(isProcessAlive(info.pid)).toBe(false);
  }, 60_000);

  it('kill() ends a host with SIGKILL even though Electron’s own kill() only sends SIGTERM', async () => {
    const conn = utilityHostLauncher(api)();
    const child = forked[forked.length - 1]!;
    await once(child, 'spawn');
    const pid = conn.pid;
    expect(isProcessAlive(pid)).toBe(true);
    // SIGTERM would let the host run its handlers; SIGKILL ends it at once.
    const exit = once(child, 'exit');
    conn.kill();
    await exit;
    await conn.exited;
    expect(child.exitSignal).toBe('SIGKILL');
    expect(isProcessAlive(pid)).toBe(false);
    conn.dispose();
  }, 30_000);
});
