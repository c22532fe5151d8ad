/**
 * The Electron adapter over the API: one invoke handler per command, on
 * that command's channel (`ipcCommandChannel`), and one channel for events
 * (IPC_EVENT_CHANNEL). Every call's sender frame is checked before its
 * payload, and its payload before the backend sees it; a name outside the API
 * has no handler, so Electron refuses it before any code of ours runs. Every
 * event goes to a window through a bounded queue.
 * It has no logic of its own: commands and their params are the backend's.
 *
 * Electron appears here as structural types only (checked against its real
 * typings at the bottom of this file), so the whole layer runs in Node tests.
 */
import type { App, IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import type { ApiBackend, CallOutcome } from '../../core/api/backend';
import { COMMAND_NAMES, type CommandName } from '../../core/api/commands';
import { BoundedEventQueue } from '../../core/api/event-queue';
import { coalesceKey, type StenoEvent } from '../../core/api/events';
import { LIMITS, type ApiError } from '../../core/api/types';
import { API_VERSION } from '../../core/api/version';
import {
  describeIssues,
  invalidPayload,
  ipcCommandChannel,
  IPC_EVENT_CHANNEL,
  IpcCallSchema,
  versionMismatch,
} from '../../core/api/wire';
import { toStenoError } from '../../core/errors';
import {
  Disposable,
  MutableDisposable,
  toDisposable,
  type IDisposable,
} from '../../core/lifecycle';
import { onUnexpectedError } from '../../core/unexpected-error';
import type { RendererLocation } from './renderer-location';
import { isTrustedFrame, type FrameLike } from './security';

/** What an invoke handler reads of Electron's `IpcMainInvokeEvent`. */
export interface IpcInvokeEventLike {
  readonly senderFrame: FrameLike | null;
}

/**
 * The part of Electron's `ipcMain` this layer uses. Properties, not methods,
 * so tsc compares the listener's event type strictly (methods are bivariant).
 */
export interface IpcMainLike {
  handle: (
    channel: string,
    listener: (event: IpcInvokeEventLike, ...args: unknown[]) => Promise<CallOutcome>,
  ) => void;
  removeHandler: (channel: string) => void;
}

/** The part of Electron's `WebContents` the event forwarding uses. */
export interface WebContentsLike {
  isDestroyed(): boolean;
  /** Electron: throws once destroyed, so read only after `isDestroyed()`. */
  readonly mainFrame: FrameLike;
  send(channel: string, ...args: unknown[]): void;
  once(event: 'destroyed', listener: () => void): unknown;
  off(event: 'destroyed', listener: () => void): unknown;
}

/** Where web contents come from: Electron's `app`. */
export interface WebContentsSourceLike {
  on(
    event: 'web-contents-created',
    listener: (event: unknown, contents: WebContentsLike) => void,
  ): unknown;
  off(
    event: 'web-contents-created',
    listener: (event: unknown, contents: WebContentsLike) => void,
  ): unknown;
}

/**
 * Capacity of one window's event queue: events waiting in the main process
 * between two drains. A coalesced event supersedes the waiting one of its
 * type (order kept, see BoundedEventQueue); when full of events that must all
 * arrive, the next one overflows and the window is resynchronised.
 */
export const WINDOW_QUEUE_MAX_EVENTS = 1024;
/** ... and their payload, in characters of JSON (a `state` event is a few KiB). */
export const WINDOW_QUEUE_MAX_BYTES = 4 * 1024 * 1024;
/** Events sent per drain; the rest wait for the next one (and may overflow). */
export const WINDOW_EVENTS_PER_DRAIN = 256;
/** How long events gather before a drain: one frame, so a burst of levels sends one. */
export const WINDOW_DRAIN_DELAY_MS = 16;
/**
 * Web contents followed at once (windows, devtools, ...). Capacity: 32; a
 * further one gets no events and is reported, since that many is a leak.
 */
export const MAX_FOLLOWED_WEB_CONTENTS = 32;

export interface ApiHandlerOptions {
  maxQueuedEvents?: number;
  maxQueuedBytes?: number;
  eventsPerDrain?: number;
  /** Runs `drain` soon; the disposable cancels it. Default: a 16 ms timer. */
  scheduleDrain?: (drain: () => void) => IDisposable;
}

const scheduleOnTimer = (drain: () => void): IDisposable => {
  const timer = setTimeout(drain, WINDOW_DRAIN_DELAY_MS);
  return toDisposable(() => clearTimeout(timer));
};

function untrustedSender(): ApiError {
  return {
    code: 'UNAUTHORIZED',
    message: 'A call came from a page or frame that is not the Steno window, so it was refused.',
    action: 'Use the Steno window; if this is the Steno window, reload it.',
  };
}

/** A bug as an error reply, its message cut to what the wire allows. */
function internalError(e: unknown, doing: string): ApiError {
  const error = toStenoError(e, doing).toJSON();
  return {
    code: error.code,
    message: error.message.slice(0, LIMITS.messageChars),
    action: error.action.slice(0, LIMITS.messageChars),
  };
}

/**
 * Registers one invoke handler per command and the event forwarding.
 * `windows` is where web contents come from (Electron's `app`): register
 * before the first window is created, since only web contents created later
 * are followed.
 * Disposing removes every handler and every window's subscription.
 */
export function registerApiHandlers(
  ipcMain: IpcMainLike,
  location: RendererLocation,
  backend: ApiBackend,
  windows: WebContentsSourceLike,
  options: ApiHandlerOptions = {},
): ApiHandlers {
  return new ApiHandlers(ipcMain, location, backend, windows, options);
}

export class ApiHandlers extends Disposable {
  /** One forwarder per followed web contents; capacity MAX_FOLLOWED_WEB_CONTENTS. */
  private readonly forwarders = new Map<WebContentsLike, WindowEventForwarder>();

  constructor(
    ipcMain: IpcMainLike,
    private readonly location: RendererLocation,
    private readonly backend: ApiBackend,
    windows: WebContentsSourceLike,
    private readonly options: ApiHandlerOptions,
  ) {
    super();
    try {
      for (const command of COMMAND_NAMES) {
        const channel = ipcCommandChannel(command);
        ipcMain.handle(channel, (event, ...args) => this.answer(command, event, args));
        this._register(toDisposable(() => ipcMain.removeHandler(channel)));
      }
    } catch (e) {
      // Electron throws when a channel already has a handler: the ones added
      // so far would have no owner, so they go before the error does.
      this.dispose();
      throw e;
    }

    const onCreated = (_event: unknown, contents: WebContentsLike): void => this.follow(contents);
    windows.on('web-contents-created', onCreated);
    this._register(toDisposable(() => windows.off('web-contents-created', onCreated)));
    this._register(
      toDisposable(() => {
        const forwarders = [...this.forwarders.values()];
        this.forwarders.clear();
        for (const f of forwarders) f.dispose();
      }),
    );
  }

  /** Web contents followed now (for tests and metrics). */
  get followedCount(): number {
    return this.forwarders.size;
  }

  /**
   * Answers one call of `command`, the command its channel names. Never
   * throws and never rejects: `ipcMain.handle` would turn a throw into an
   * opaque rejection the renderer cannot act on.
   */
  private async answer(
    command: CommandName,
    event: IpcInvokeEventLike,
    args: unknown[],
  ): Promise<CallOutcome> {
    try {
      // The sender first: an untrusted frame learns nothing about the payload's checks.
      if (!isTrustedFrame(event.senderFrame, this.location)) {
        return { ok: false, error: untrustedSender() };
      }
      if (args.length !== 1) {
        return {
          ok: false,
          error: invalidPayload('The call', `expected one argument, got ${args.length}`),
        };
      }
      const parsed = IpcCallSchema.safeParse(args[0]);
      if (!parsed.success) {
        return { ok: false, error: invalidPayload('The call', describeIssues(parsed.error)) };
      }
      const { apiVersion, params } = parsed.data;
      if (apiVersion !== API_VERSION) return { ok: false, error: versionMismatch(apiVersion) };
      return await this.backend.call(command, params);
    } catch (e) {
      return { ok: false, error: internalError(e, 'answering a call from the window') };
    }
  }

  private follow(contents: WebContentsLike): void {
    if (this.forwarders.has(contents)) return;
    if (this.forwarders.size >= MAX_FOLLOWED_WEB_CONTENTS) {
      onUnexpectedError(
        new Error(
          `more than ${MAX_FOLLOWED_WEB_CONTENTS} web contents at once; one gets no events`,
        ),
      );
      return;
    }
    const forwarder = new WindowEventForwarder(contents, this.location, this.backend, {
      maxEvents: this.options.maxQueuedEvents ?? WINDOW_QUEUE_MAX_EVENTS,
      maxBytes: this.options.maxQueuedBytes ?? WINDOW_QUEUE_MAX_BYTES,
      eventsPerDrain: this.options.eventsPerDrain ?? WINDOW_EVENTS_PER_DRAIN,
      scheduleDrain: this.options.scheduleDrain ?? scheduleOnTimer,
      onDestroyed: () => {
        if (this.forwarders.get(contents) === forwarder) this.forwarders.delete(contents);
        forwarder.dispose();
      },
    });
    this.forwarders.set(contents, forwarder);
  }
}

interface ForwarderOptions {
  maxEvents: number;
  maxBytes: number;
  eventsPerDrain: number;
  scheduleDrain: (drain: () => void) => IDisposable;
  onDestroyed: () => void;
}

function eventSize(event: StenoEvent): number {
  return JSON.stringify(event).length;
}

/**
 * One web contents' share of the event stream: its own subscription to the
 * backend, its own bounded queue, its own drain. Events reach it only while
 * it shows our renderer's top frame; it ends when the web contents is destroyed.
 */
class WindowEventForwarder extends Disposable {
  private readonly queue: BoundedEventQueue<StenoEvent>;
  private readonly pendingDrain = this._register(new MutableDisposable<IDisposable>());
  /** Times the queue overflowed and a `state` event replaced it. */
  resyncs = 0;

  constructor(
    private readonly contents: WebContentsLike,
    private readonly location: RendererLocation,
    private readonly backend: ApiBackend,
    private readonly options: ForwarderOptions,
  ) {
    super();
    this.queue = new BoundedEventQueue<StenoEvent>(options.maxEvents, options.maxBytes, eventSize);
    this._register(toDisposable(() => this.queue.clear()));
    this._register(backend.onDidEvent((event) => this.enqueue(event)));
    const onDestroyed = (): void => options.onDestroyed();
    contents.once('destroyed', onDestroyed);
    this._register(toDisposable(() => contents.off('destroyed', onDestroyed)));
  }

  private isTrusted(): boolean {
    try {
      return !this.contents.isDestroyed() && isTrustedFrame(this.contents.mainFrame, this.location);
    } catch {
      // Electron throws from `mainFrame` while a web contents is torn down: not ours to send to.
      return false;
    }
  }

  private enqueue(event: StenoEvent): void {
    // A page that is not our renderer (devtools, a page still loading) gets
    // nothing; our renderer asks for the whole state when it starts.
    if (!this.isTrusted()) return;
    if (this.queue.push(event, coalesceKey(event)) === 'overflow') {
      this.resync();
    }
    this.scheduleDrain();
  }

  /**
   * The window is too far behind to get every event: a segment or a state
   * change dropped silently would leave it wrong without knowing, and keeping
   * every event would grow without bound (Electron's `send` never pushes
   * back). So what waits is thrown away and replaced by one `state` event,
   * from which the renderer redraws itself and fetches its transcript page
   * again: the same resynchronisation a slow WebSocket client gets.
   */
  private resync(): void {
    this.queue.clear();
    this.resyncs++;
    const state: StenoEvent = { type: 'state', state: this.backend.currentState() };
    if (this.queue.push(state, null) === 'overflow') {
      onUnexpectedError(new Error('a state event does not fit an empty window queue'));
    }
  }

  private scheduleDrain(): void {
    if (this.pendingDrain.value || this._store.isDisposed) return;
    this.pendingDrain.value = this.options.scheduleDrain(() => {
      this.pendingDrain.clearAndLeak()?.dispose();
      try {
        this.drain();
      } catch (e) {
        onUnexpectedError(e);
      }
    });
  }

  private drain(): void {
    if (!this.isTrusted()) {
      // Navigated away or closing: what waits was for the page that is gone.
      this.queue.clear();
      return;
    }
    for (let sent = 0; sent < this.options.eventsPerDrain; sent++) {
      const event = this.queue.shift();
      if (event === undefined) return;
      this.contents.send(IPC_EVENT_CHANNEL, event);
    }
    if (this.queue.size > 0) this.scheduleDrain();
  }
}

// Electron's own types must fit the structural ones above (checked by tsc only).
type Fits<Actual extends Wanted, Wanted> = Actual;
type _IpcMainFits = Fits<IpcMain, IpcMainLike>;
type _InvokeEventFits = Fits<IpcMainInvokeEvent, IpcInvokeEventLike>;
type _WebContentsFits = Fits<WebContents, WebContentsLike>;
type _AppFits = Fits<App, WebContentsSourceLike>;
