import { Emitter } from '../../core/event';
import { StenoError } from '../../core/errors';
import { Disposable, MutableDisposable, toDisposable, DisposableStore } from '../../core/lifecycle';
import type {
  HostModelPaths,
  HostOptions,
  HostReadyInfo,
  HostToMain,
  MainToHost,
} from '../../core/host-protocol';
import type { HostConnection, HostExit, HostLauncher } from './host-process';

export interface SupervisorOptions {
  models: HostModelPaths;
  options: HostOptions;
  launcher: HostLauncher;
  /** Loading models may take this long before the host counts as hung (default 120 s). */
  readyTimeoutMs?: number;
  /** After `shutdown`, the host is killed if it has not exited by then (default 3 s). */
  shutdownDeadlineMs?: number;
  /** Restart delays after consecutive crashes; the last one repeats (default 100 ms .. 2 s). */
  backoffMs?: readonly number[];
  /** A host that ran this long without crashing resets the backoff (default 30 s). */
  healthyAfterMs?: number;
  /**
   * A ready host that was sent nothing for this long is asked to exit, giving
   * its memory back (default 60 s); `wake` starts a new one when work comes.
   */
  idleTimeoutMs?: number;
}

export interface HostCrash {
  exit: HostExit;
  /** Delay before the restart. */
  restartInMs: number;
  /** The host's last stderr lines. */
  detail: string;
}

type State =
  | 'idle'
  | 'starting'
  | 'ready'
  | 'backoff'
  | 'parking'
  | 'parked'
  | 'stopping'
  | 'stopped'
  | 'failed';

/**
 * Keeps one model host running while it is needed: starts it, configures the
 * models, restarts it with backoff when it crashes (the recording is not
 * affected: the host only ever reads audio), and ends it on `stop`, killing it
 * if it does not exit within the deadline. A bad model file is a permanent
 * failure (restarting would not help), reported once through `onDidFail`.
 */
export class ModelHostSupervisor extends Disposable {
  private readonly messageEmitter = this._register(new Emitter<HostToMain>());
  private readonly readyEmitter = this._register(new Emitter<HostReadyInfo>());
  private readonly crashEmitter = this._register(new Emitter<HostCrash>());
  private readonly failEmitter = this._register(new Emitter<StenoError>());
  private readonly parkEmitter = this._register(new Emitter<void>());
  /** Every message from the current host (acks, segments, partials, errors). */
  readonly onDidMessage = this.messageEmitter.event;
  /** A host (the first, or a restarted one) has loaded its models. */
  readonly onDidBecomeReady = this.readyEmitter.event;
  readonly onDidCrash = this.crashEmitter.event;
  /** Transcription cannot continue (bad model, or the host cannot start). */
  readonly onDidFail = this.failEmitter.event;
  /** The host exited after being idle (its memory is back with the OS); `wake` starts another. */
  readonly onDidPark = this.parkEmitter.event;

  private state: State = 'idle';
  private readonly current = this._register(new MutableDisposable<DisposableStore>());
  private connection: HostConnection | null = null;
  private consecutiveCrashes = 0;
  private readyAt = 0;
  private nextRequestId = 1;
  private readonly backoff: readonly number[];
  private readonly restartTimer = this._register(new MutableDisposable());
  private readonly idleTimer = this._register(new MutableDisposable());
  private failure: StenoError | null = null;
  private stopPromise: Promise<void> | null = null;
  /** Stores of in-flight `start`/`request` calls; each removes itself when settled. */
  private readonly pending = new Set<DisposableStore>();
  /** Restarts so far, for reports and tests. */
  restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    // Capped at 2 s: a restart costs a model load (about 1 s of CPU), so a host
    // that keeps crashing uses at most about a third of a core, while one that
    // crashed once is back before the feed's window (8 chunks) fills.
    this.backoff = opts.backoffMs ?? [100, 250, 500, 1000, 2000];
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  /** The host exited after being idle; `wake` starts a new one. */
  /** stop() was called: no host runs again. */
  get isStopped(): boolean {
    return this.state === 'stopping' || this.state === 'stopped';
  }

  get isParked(): boolean {
    return this.state === 'parked';
  }

  /** Starts a host again after an idle exit (no-op in any other state). */
  wake(): void {
    if (this.state === 'parked') this.launch();
  }

  get pid(): number | undefined {
    return this.connection?.pid;
  }

  get error(): StenoError | null {
    return this.failure;
  }

  /** Starts the first host; resolves when it is ready, rejects if it fails. */
  start(): Promise<HostReadyInfo> {
    if (this.state !== 'idle') throw new Error(`supervisor cannot start in state ${this.state}`);
    return new Promise<HostReadyInfo>((resolve, reject) => {
      const store = new DisposableStore();
      store.add(
        this.onDidBecomeReady((info) => {
          store.dispose();
          resolve(info);
        }),
      );
      store.add(
        this.onDidFail((e) => {
          store.dispose();
          reject(e);
        }),
      );
      this.track(store);
      this.launch();
    });
  }

  /** Sends to the current host if it is ready; returns whether it was sent. */
  send(message: MainToHost): boolean {
    if (this.state !== 'ready' || !this.connection) return false;
    this.connection.send(message);
    // A ping (metrics ask every second) is not work: it must not keep an idle host alive.
    if (message.type !== 'ping') this.armIdleTimer();
    return true;
  }

  private armIdleTimer(): void {
    const ms = this.opts.idleTimeoutMs ?? 60_000;
    const timer = setTimeout(() => void this.park(), ms);
    this.idleTimer.value = toDisposable(() => clearTimeout(timer));
  }

  /** Idle: ask the host to exit (kill it after the deadline); not a crash. */
  private async park(): Promise<void> {
    const connection = this.connection;
    if (this.state !== 'ready' || !connection) return;
    this.state = 'parking';
    connection.send({ type: 'shutdown' });
    await this.waitForExit(connection);
    if (this.state !== 'parking') return;
    this.current.value = undefined;
    this.connection = null;
    this.state = 'parked';
    this.parkEmitter.fire();
  }

  private async waitForExit(connection: HostConnection): Promise<void> {
    const deadline = this.opts.shutdownDeadlineMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadline);
    });
    const result = await Promise.race([connection.exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      connection.kill();
      await connection.exited;
    }
  }

  /** Asks the current host for a reply to a request with an id. */
  request(
    make: (id: number) => MainToHost,
    match: (m: HostToMain, id: number) => boolean,
    timeoutMs: number,
  ): Promise<HostToMain> {
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const store = new DisposableStore();
      const timer = setTimeout(() => {
        store.dispose();
        reject(
          new StenoError(
            'HOST_FAILED',
            'The model host did not answer in time.',
            'It will be restarted.',
          ),
        );
      }, timeoutMs);
      store.add(toDisposable(() => clearTimeout(timer)));
      store.add(
        this.onDidMessage((m) => {
          if (!match(m, id)) return;
          store.dispose();
          resolve(m);
        }),
      );
      store.add(
        this.onDidCrash(() => {
          store.dispose();
          reject(
            new StenoError(
              'HOST_FAILED',
              'The model host ended before it answered.',
              'It will be restarted.',
            ),
          );
        }),
      );
      this.track(store);
      if (!this.send(make(id))) {
        store.dispose();
        reject(
          new StenoError(
            'HOST_FAILED',
            'The model host is not running.',
            'Wait for it to restart.',
          ),
        );
      }
    });
  }

  /**
   * The host's resident memory as it reports it, or null when no host is
   * ready or it does not answer within `timeoutMs` (shown as unknown, not 0).
   */
  async hostRssBytes(timeoutMs: number): Promise<number | null> {
    if (this.state !== 'ready') return null;
    try {
      const reply = await this.request(
        (id) => ({ type: 'ping', id }),
        (m, id) => m.type === 'pong' && m.id === id,
        timeoutMs,
      );
      return reply.type === 'pong' ? reply.rssBytes : null;
    } catch {
      return null;
    }
  }

  /** Kills the current host at once (tests use this to simulate a crash). */
  killCurrentHost(): void {
    this.connection?.kill();
  }

  /**
   * Ends the host: `shutdown`, then SIGKILL after the deadline; with `now`,
   * SIGKILL at once (a cancelled job wants nothing more from it, and a host
   * inside a long Whisper call would answer only when the call ends).
   * Resolves once no host process remains.
   */
  stop(opts: { now?: boolean } = {}): Promise<void> {
    if (this.stopPromise) {
      if (opts.now) this.connection?.kill();
      return this.stopPromise;
    }
    this.state = 'stopping';
    this.restartTimer.value = undefined;
    this.idleTimer.value = undefined;
    this.stopPromise = (async () => {
      const connection = this.connection;
      if (connection && opts.now) {
        connection.kill();
        await connection.exited;
      } else if (connection) {
        connection.send({ type: 'shutdown' });
        await this.waitForExit(connection);
      }
      this.current.value = undefined;
      this.connection = null;
      this.state = 'stopped';
    })();
    return this.stopPromise;
  }

  private launch(): void {
    this.state = 'starting';
    const store = new DisposableStore();
    let connection: HostConnection;
    try {
      connection = store.add(this.opts.launcher());
    } catch (e) {
      store.dispose();
      this.fail(
        new StenoError(
          'HOST_FAILED',
          `The model host could not be started: ${(e as Error).message}.`,
          'Reinstall Steno.',
          {
            cause: e,
          },
        ),
      );
      return;
    }
    this.connection = connection;
    this.current.value = store;
    const configureId = this.nextRequestId++;
    const readyTimer = setTimeout(() => {
      if (this.state === 'starting' && this.connection === connection) connection.kill();
    }, this.opts.readyTimeoutMs ?? 120_000);
    store.add(toDisposable(() => clearTimeout(readyTimer)));

    store.add(
      connection.onDidMessage((m) => {
        if (this.connection !== connection) return;
        if (m.type === 'ready' && m.id === configureId) {
          clearTimeout(readyTimer);
          this.state = 'ready';
          this.readyAt = performance.now();
          this.armIdleTimer();
          this.readyEmitter.fire(m.info);
          return;
        }
        if (m.type === 'error' && m.id === configureId) {
          // Loading failed: a bad model file will fail again, so no restart.
          this.fail(StenoError.fromWire(m.error));
          return;
        }
        this.messageEmitter.fire(m);
      }),
    );
    store.add(connection.onDidExit((exit) => this.onExit(connection, exit)));
    connection.send({
      type: 'configure',
      id: configureId,
      models: this.opts.models,
      options: this.opts.options,
    });
  }

  private onExit(connection: HostConnection, exit: HostExit): void {
    if (this.connection !== connection) return;
    if (['stopping', 'stopped', 'failed', 'parking', 'parked'].includes(this.state)) return;
    if (this.readyAt && performance.now() - this.readyAt > (this.opts.healthyAfterMs ?? 30_000)) {
      this.consecutiveCrashes = 0;
    }
    const delay = this.backoff[Math.min(this.consecutiveCrashes, this.backoff.length - 1)] ?? 1000;
    this.consecutiveCrashes++;
    this.restarts++;
    this.connection = null;
    const detail = connection.stderrTail.split('\n').slice(-5).join('\n');
    this.current.value = undefined;
    this.state = 'backoff';
    this.crashEmitter.fire({ exit, restartInMs: delay, detail });
    const timer = setTimeout(() => {
      if (this.state === 'backoff') this.launch();
    }, delay);
    this.restartTimer.value = toDisposable(() => clearTimeout(timer));
  }

  private fail(error: StenoError): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.failure = error;
    const connection = this.connection;
    this.connection = null;
    connection?.kill();
    this.current.value = undefined;
    this.failEmitter.fire(error);
  }

  private track(store: DisposableStore): void {
    this.pending.add(store);
    store.add(toDisposable(() => this.pending.delete(store)));
  }

  override dispose(): void {
    this.connection?.kill();
    for (const store of [...this.pending]) store.dispose();
    super.dispose();
  }
}
