/**
 * Stand-ins for the parts of Electron the IPC layer and the preload bridge
 * use, implementing their structural types: `ipcMain`, web contents and their
 * frames, `app`'s 'web-contents-created', and `ipcRenderer`. Each keeps what
 * crossed it so tests compare content, not counts alone.
 */
import type { CallOutcome } from '../core/api/backend';
import { ipcCommandChannel, isCommandName } from '../core/api/wire';
import { toDisposable, type IDisposable } from '../core/lifecycle';
import type {
  IpcInvokeEventLike,
  IpcMainLike,
  WebContentsLike,
  WebContentsSourceLike,
} from '../main/electron/ipc';
import type { FrameLike } from '../main/electron/security';
import type { IpcRendererLike } from '../preload/bridge';

export class FakeFrame implements FrameLike {
  constructor(
    public url: string,
    readonly parent: FakeFrame | null = null,
  ) {}
}

type InvokeListener = (event: IpcInvokeEventLike, ...args: unknown[]) => Promise<CallOutcome>;

export class FakeIpcMain implements IpcMainLike {
  /**
   * One handler per channel, as Electron allows. Capacity: what the code
   * under test registers (a second one for a channel throws, as in Electron).
   */
  readonly handlers = new Map<string, InvokeListener>();
  /** Every `handle` call's channel, in order. Capacity: grows with the test (scaffolding). */
  readonly registrations: string[] = [];

  handle = (channel: string, listener: InvokeListener): void => {
    this.registrations.push(channel);
    if (this.handlers.has(channel)) {
      throw new Error(`Attempted to register a second handler for '${channel}'`);
    }
    this.handlers.set(channel, listener);
  };

  removeHandler = (channel: string): void => {
    this.handlers.delete(channel);
  };

  /**
   * `invokeOnChannel` for a channel, or for a command of the API standing
   * for its own channel (`ipcCommandChannel`): a test's shorthand.
   */
  invoke(
    channelOrCommand: string,
    frame: FrameLike | null,
    ...args: unknown[]
  ): Promise<CallOutcome> {
    const channel = isCommandName(channelOrCommand)
      ? ipcCommandChannel(channelOrCommand)
      : channelOrCommand;
    return this.invokeOnChannel(channel, frame, ...args);
  }

  /**
   * What `ipcRenderer.invoke(channel, ...args)` from `frame` would get, the
   * channel taken as it is. As in Electron, a channel without a handler, or
   * a handler that throws or rejects, rejects the invoke with "Error invoking
   * remote method '<channel>': <the error>": the main process answers
   * `new Error("No handler registered for '<channel>'")` (or the handler's
   * error) as text, and the renderer wraps it. It never throws synchronously.
   */
  async invokeOnChannel(
    channel: string,
    frame: FrameLike | null,
    ...args: unknown[]
  ): Promise<CallOutcome> {
    const handler = this.handlers.get(channel);
    try {
      if (!handler) throw new Error(`No handler registered for '${channel}'`);
      return await handler({ senderFrame: frame }, ...args);
    } catch (e) {
      throw new Error(`Error invoking remote method '${channel}': ${String(e)}`);
    }
  }
}

export class FakeWebContents implements WebContentsLike {
  /**
   * Everything sent, as [channel, payload]. Capacity: grows with the test
   * (scaffolding); a flood or leak test passes `keepSent: false` and counts.
   */
  readonly sent: [string, unknown][] = [];
  sentCount = 0;
  mainFrame: FakeFrame;
  private destroyed = false;
  private readonly destroyedListeners = new Set<() => void>();
  /** Called after each send; tests wait on it. */
  onSend: (() => void) | null = null;
  /** The renderer's end of the event channel, when a test wires one. */
  deliver: ((channel: string, payload: unknown) => void) | null = null;

  constructor(
    url: string,
    private readonly keepSent = true,
  ) {
    this.mainFrame = new FakeFrame(url);
  }

  get destroyedListenerCount(): number {
    return this.destroyedListeners.size;
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }

  send(channel: string, ...args: unknown[]): void {
    // Electron throws when sending to a destroyed web contents.
    if (this.destroyed) throw new Error('Object has been destroyed');
    this.sentCount++;
    if (this.keepSent) this.sent.push([channel, args[0]]);
    // Electron copies what it sends (structured clone), so does the fake.
    this.deliver?.(channel, structuredClone(args[0]));
    this.onSend?.();
  }

  once(_event: 'destroyed', listener: () => void): this {
    this.destroyedListeners.add(listener);
    return this;
  }

  off(_event: 'destroyed', listener: () => void): this {
    this.destroyedListeners.delete(listener);
    return this;
  }

  navigate(url: string): void {
    this.mainFrame = new FakeFrame(url);
  }

  /** The window closed: 'destroyed' fires once, each listener then forgotten. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const listeners = [...this.destroyedListeners];
    this.destroyedListeners.clear();
    for (const l of listeners) l();
  }
}

type CreatedListener = (event: unknown, contents: WebContentsLike) => void;

/** `app` as far as 'web-contents-created' goes. */
export class FakeApp implements WebContentsSourceLike {
  private readonly listeners = new Set<CreatedListener>();

  get listenerCount(): number {
    return this.listeners.size;
  }

  on(_event: 'web-contents-created', listener: CreatedListener): this {
    this.listeners.add(listener);
    return this;
  }

  off(_event: 'web-contents-created', listener: CreatedListener): this {
    this.listeners.delete(listener);
    return this;
  }

  /** A new window showing `url`. */
  open(url: string, keepSent = true): FakeWebContents {
    const contents = new FakeWebContents(url, keepSent);
    for (const l of [...this.listeners]) l({}, contents);
    return contents;
  }
}

/**
 * A drain scheduler the test runs by hand: `flush` runs every scheduled
 * drain, and those they schedule, until none is left.
 */
export class ManualScheduler {
  private readonly pending = new Set<() => void>();

  get pendingCount(): number {
    return this.pending.size;
  }

  schedule = (drain: () => void): IDisposable => {
    this.pending.add(drain);
    return toDisposable(() => this.pending.delete(drain));
  };

  flush(): number {
    let rounds = 0;
    while (this.pending.size > 0) {
      const drains = [...this.pending];
      this.pending.clear();
      for (const d of drains) d();
      rounds++;
      if (rounds > 100_000) throw new Error('drains keep scheduling themselves');
    }
    return rounds;
  }
}

type RendererListener = (event: unknown, ...args: unknown[]) => void;

/** `ipcRenderer` as the preload bridge uses it: `invoke` answered by `answer`. */
export class FakeIpcRenderer implements IpcRendererLike {
  /** Every invoke, in order. Capacity: grows with the test (scaffolding). */
  readonly invocations: { channel: string; args: unknown[] }[] = [];
  private readonly listeners = new Map<string, Set<RendererListener>>();

  constructor(public answer: (channel: string, ...args: unknown[]) => Promise<unknown>) {}

  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.invocations.push({ channel, args });
    return this.answer(channel, ...args);
  }

  on(channel: string, listener: RendererListener): this {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    return this;
  }

  removeListener(channel: string, listener: RendererListener): this {
    this.listeners.get(channel)?.delete(listener);
    return this;
  }

  listenerCount(channel: string): number {
    return this.listeners.get(channel)?.size ?? 0;
  }

  /** The main process sends `payload` on `channel`. */
  emit(channel: string, payload: unknown): void {
    for (const l of [...(this.listeners.get(channel) ?? [])]) l({ sender: 'fake' }, payload);
  }
}

/**
 * A window whose preload end (`ipcRenderer`) is wired to the main end: its
 * invokes reach `ipcMain`'s handler for their channel from the window's top
 * frame (a channel without one rejects, as in Electron), and what
 * main sends to it arrives on `ipcRenderer`, each value copied both ways.
 */
export function openWiredWindow(
  ipcMain: FakeIpcMain,
  app: FakeApp,
  url: string,
): { contents: FakeWebContents; ipcRenderer: FakeIpcRenderer } {
  const contents = app.open(url, false);
  const ipcRenderer = new FakeIpcRenderer(async (channel, ...args) => {
    // The channel as the renderer named it: a bare command name has no handler.
    const outcome = await ipcMain.invokeOnChannel(
      channel,
      contents.mainFrame,
      ...structuredClone(args),
    );
    return structuredClone(outcome);
  });
  contents.deliver = (channel, payload) => ipcRenderer.emit(channel, payload);
  return { contents, ipcRenderer };
}
