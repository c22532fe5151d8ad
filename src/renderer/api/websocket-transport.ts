/**
 * The StenoClient of a window in a plain browser: the API over the one
 * WebSocket `steno serve` offers. It says hello, pairs each reply with its
 * call, checks everything the server sends before trusting it (a malformed
 * message or event is dropped and counted, never thrown), and reconnects
 * with backoff when the connection closes; the server's `state` event after
 * each welcome brings the window back in step.
 *
 * The WebSocket class is injected: the browser's by default, the `ws`
 * package's in tests under Node.
 */
import { commandFunctions, replyError, type StenoClient } from '../../core/api/client';
import type { CommandName } from '../../core/api/commands';
import type { StenoEvent } from '../../core/api/events';
import type { ApiError } from '../../core/api/types';
import { API_VERSION } from '../../core/api/version';
import {
  describeIssues,
  MAX_CLIENT_FRAME_BYTES,
  parseEvent,
  parseJsonMessage,
  ServerMessageSchema,
} from '../../core/api/wire';
import { StenoError } from '../../core/errors';
import { Emitter, type Event } from '../../core/event';
import { Disposable, type IDisposable } from '../../core/lifecycle';

/** What this transport uses of a WebSocket; the browser's and `ws`'s both have it. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;

export type ConnectionStatus =
  | { state: 'connecting'; attempt: number }
  | { state: 'open' }
  /** `reason`: the server's bye, if it said one; `reconnectInMs` null when it will not retry. */
  | { state: 'closed'; reason: ApiError | null; reconnectInMs: number | null };

export interface WebSocketTransportOptions {
  /** ws://host:port/api?token=... */
  url: string;
  /** Default: the browser's WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** A call without a reply by then is rejected. Default 60 s (stopping a recording waits for the disk). */
  callTimeoutMs?: number;
  /** Calls waiting for replies at once. Default 256. */
  maxPendingCalls?: number;
  /** After the socket opens, the welcome must arrive by then. Default 10 s. */
  helloTimeoutMs?: number;
  /** First reconnect delay, doubled after each failure up to `reconnectMaxMs`. Defaults 250 ms, 10 s. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** For the jitter of reconnect delays (tests pass a fixed one). */
  random?: () => number;
}

interface PendingCall {
  command: CommandName;
  /** The call's message, kept until sent (calls made while connecting wait for the welcome). */
  message: string | null;
  resolve: (result: unknown) => void;
  reject: (error: StenoError) => void;
  timer: ReturnType<typeof setTimeout>;
}

type Timer = ReturnType<typeof setTimeout>;

export class WebSocketTransport extends Disposable {
  private readonly options: Required<Omit<WebSocketTransportOptions, 'WebSocket'>>;
  private readonly WebSocketClass: WebSocketConstructor;
  private socket: WebSocketLike | null = null;
  private welcomed = false;
  private bye: ApiError | null = null;
  /** Set when retrying cannot help (another API version): the window must reload. */
  private fatal: ApiError | null = null;
  private attempt = 0;
  private nextId = 1;
  /**
   * Calls waiting for their replies. Capacity: `maxPendingCalls`; one more is
   * rejected at once. Each leaves on its reply, its timeout, or the close.
   */
  private readonly pending = new Map<number, PendingCall>();
  private helloTimer: Timer | null = null;
  private reconnectTimer: Timer | null = null;
  private currentStatus: ConnectionStatus = { state: 'connecting', attempt: 1 };

  private readonly statusEmitter = this._register(new Emitter<ConnectionStatus>());
  readonly onDidChangeStatus: Event<ConnectionStatus> = this.statusEmitter.event;
  private readonly eventEmitter = this._register(new Emitter<StenoEvent>());
  readonly onDidEvent: Event<StenoEvent> = this.eventEmitter.event;

  /** Messages from the server that were malformed, unexpected or unpaired, and dropped. */
  droppedMessages = 0;
  /** Events among them that failed the API's schema. */
  droppedEvents = 0;

  constructor(options: WebSocketTransportOptions) {
    super();
    const Impl =
      options.WebSocket ??
      ((globalThis as { WebSocket?: unknown }).WebSocket as WebSocketConstructor | undefined);
    if (!Impl) throw new Error('WebSocketTransport: no WebSocket class in this environment');
    this.WebSocketClass = Impl;
    this.options = {
      url: options.url,
      callTimeoutMs: options.callTimeoutMs ?? 60_000,
      maxPendingCalls: options.maxPendingCalls ?? 256,
      helloTimeoutMs: options.helloTimeoutMs ?? 10_000,
      reconnectInitialMs: options.reconnectInitialMs ?? 250,
      reconnectMaxMs: options.reconnectMaxMs ?? 10_000,
      random: options.random ?? Math.random,
    };
    this.connect();
  }

  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  get pendingCalls(): number {
    return this.pending.size;
  }

  /** One command: resolves with its (unchecked) result, rejects with a StenoError. */
  readonly call = (command: CommandName, params: unknown): Promise<unknown> => {
    return new Promise<unknown>((resolve, reject) => {
      if (this._store.isDisposed) return reject(closedByWindow());
      if (this.fatal) return reject(StenoError.fromWire(this.fatal));
      if (this.currentStatus.state === 'closed') return reject(notConnected(command));
      if (this.pending.size >= this.options.maxPendingCalls) {
        return reject(
          new StenoError(
            'INVALID_STATE',
            `Steno has ${this.options.maxPendingCalls} calls of this window to answer already.`,
            'Wait a moment and try again; if it keeps happening, reload the window.',
          ),
        );
      }
      const id = this.nextId++;
      const message = JSON.stringify({ type: 'call', request: { id, command, params } });
      if (utf8Bytes(message) > MAX_CLIENT_FRAME_BYTES) {
        return reject(
          new StenoError(
            'INVALID_ARGUMENT',
            `The ${command} request is larger than the ${MAX_CLIENT_FRAME_BYTES} bytes a call may have.`,
            'Send less at once.',
          ),
        );
      }
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        reject(
          new StenoError(
            'INTERNAL',
            `Steno did not answer ${command} within ${Math.round(this.options.callTimeoutMs / 1000)} s.`,
            'Try again; if it keeps happening, check that `steno serve` still runs.',
          ),
        );
      }, this.options.callTimeoutMs);
      this.pending.set(id, { command, message, resolve, reject, timer });
      if (this.welcomed) this.flush();
    });
  };

  private connect(): void {
    this.reconnectTimer = null;
    this.attempt++;
    this.welcomed = false;
    this.bye = null;
    this.setStatus({ state: 'connecting', attempt: this.attempt });
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketClass(this.options.url);
    } catch (e) {
      // A malformed URL: retrying will not fix it.
      this.fatal = {
        code: 'INVALID_ARGUMENT',
        message: `The address of Steno's API is not usable: ${(e as Error)?.message ?? String(e)}.`,
        action: 'Open the full address `steno serve` printed.',
      };
      this.closed();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      socket.send(JSON.stringify({ type: 'hello', apiVersion: API_VERSION }));
      this.helloTimer = setTimeout(
        () => socket.close(4000, 'no welcome'),
        this.options.helloTimeoutMs,
      );
    };
    socket.onmessage = (event) => {
      if (socket === this.socket) this.receive(event.data);
    };
    // The close that follows every error says what happened; the error itself adds nothing.
    socket.onerror = () => {};
    socket.onclose = () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.closed();
    };
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return this.drop();
    const json = parseJsonMessage(data);
    if (json === undefined) return this.drop();
    // Events are most of the traffic: their envelope is checked here and the event
    // by parseEvent, once, instead of again inside ServerMessageSchema.
    if (isEventEnvelope(json)) {
      const event = parseEvent(json.event);
      if (!event) {
        this.droppedEvents++;
        return this.drop();
      }
      if (this.welcomed) this.eventEmitter.fire(event);
      else this.drop();
      return;
    }
    const parsed = ServerMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.drop();
      // A broken reply to a waiting call fails that call now, not at its timeout.
      const id = malformedReplyId(json);
      const call = id === null ? undefined : this.pending.get(id);
      if (id !== null && call) {
        this.pending.delete(id);
        clearTimeout(call.timer);
        call.reject(malformedReply(call.command, describeIssues(parsed.error)));
      }
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'welcome':
        if (message.apiVersion !== API_VERSION) {
          this.fatal = {
            code: 'API_VERSION_MISMATCH',
            message: `Steno speaks API version ${message.apiVersion}; this window speaks version ${API_VERSION}.`,
            action: 'Reload the window, or use the Steno that came with this window.',
          };
          this.socket?.close(1000, 'api version');
          return;
        }
        this.welcomed = true;
        this.attempt = 0;
        this.clearHelloTimer();
        this.setStatus({ state: 'open' });
        this.flush();
        return;
      case 'reply': {
        const call = this.pending.get(message.reply.id);
        if (!call) return this.drop();
        this.pending.delete(message.reply.id);
        clearTimeout(call.timer);
        if (message.reply.ok) call.resolve(message.reply.result);
        else call.reject(replyError(message.reply.error));
        return;
      }
      case 'bye':
        this.bye = message.error;
        if (message.error.code === 'API_VERSION_MISMATCH') this.fatal = message.error;
        return;
      case 'event':
        // Every event envelope was handled above.
        return this.drop();
    }
  }

  /** Sends the calls that were made while the connection was opening. */
  private flush(): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return;
    for (const call of this.pending.values()) {
      if (call.message === null) continue;
      socket.send(call.message);
      call.message = null;
    }
  }

  private closed(): void {
    this.clearHelloTimer();
    this.welcomed = false;
    const reason = this.fatal ?? this.bye;
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      clearTimeout(call.timer);
      call.reject(reason ? StenoError.fromWire(reason) : connectionLost(call.command));
    }
    if (this._store.isDisposed) return;
    if (this.fatal) {
      this.setStatus({ state: 'closed', reason, reconnectInMs: null });
      return;
    }
    const delay = this.reconnectDelay();
    this.setStatus({ state: 'closed', reason, reconnectInMs: delay });
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** Doubles from the first delay up to the largest, with jitter so windows do not retry in step. */
  private reconnectDelay(): number {
    const { reconnectInitialMs, reconnectMaxMs, random } = this.options;
    const base = Math.min(reconnectMaxMs, reconnectInitialMs * 2 ** Math.min(this.attempt, 20));
    return Math.round(base * (0.5 + random() / 2));
  }

  private drop(): void {
    this.droppedMessages++;
  }

  private setStatus(status: ConnectionStatus): void {
    this.currentStatus = status;
    this.statusEmitter.fire(status);
  }

  private clearHelloTimer(): void {
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
  }

  override dispose(): void {
    if (this._store.isDisposed) return;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.clearHelloTimer();
    const socket = this.socket;
    this.socket = null;
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      clearTimeout(call.timer);
      call.reject(closedByWindow());
    }
    super.dispose();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      // Errors after this point belong to nobody; keep a listener so none is thrown.
      socket.onerror = () => {};
      socket.close(1000, 'window closed');
    }
  }
}

/** The client interface over a WebSocketTransport. */
export interface WebSocketStenoClient extends StenoClient, IDisposable {
  readonly transport: WebSocketTransport;
  /** Connection status changes; returns the unsubscribe. */
  onStatus(listener: (status: ConnectionStatus) => void): () => void;
}

export function createWebSocketClient(options: WebSocketTransportOptions): WebSocketStenoClient {
  const transport = new WebSocketTransport(options);
  return {
    ...commandFunctions(transport.call),
    transport,
    onEvent(listener) {
      const subscription = transport.onDidEvent(listener);
      return () => subscription.dispose();
    },
    onStatus(listener) {
      const subscription = transport.onDidChangeStatus(listener);
      return () => subscription.dispose();
    },
    dispose: () => transport.dispose(),
  };
}

/** The API's URL for a page served by `steno serve`: same host, the page's token. */
export function apiUrlForPage(location: { host: string; search: string }): string {
  const token = new URLSearchParams(location.search).get('token') ?? '';
  return `ws://${location.host}/api?token=${encodeURIComponent(token)}`;
}

/** The id of a reply envelope that failed the schema, when it has a numeric one. */
function malformedReplyId(json: unknown): number | null {
  if (typeof json !== 'object' || json === null) return null;
  if ((json as { type?: unknown }).type !== 'reply') return null;
  const reply = (json as { reply?: unknown }).reply;
  if (typeof reply !== 'object' || reply === null) return null;
  const id = (reply as { id?: unknown }).id;
  return typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
}

function malformedReply(command: string, issues: string): StenoError {
  return new StenoError(
    'INVALID_PAYLOAD',
    `The reply to ${command} was malformed: ${issues.slice(0, 300)}.`,
    'Reload the window; Steno and this window may be different versions.',
  );
}

function isEventEnvelope(json: unknown): json is { type: 'event'; event: unknown } {
  return typeof json === 'object' && json !== null && (json as { type?: unknown }).type === 'event';
}

function utf8Bytes(text: string): number {
  // Every UTF-16 unit is at most 3 bytes: encode only when it could matter.
  return text.length * 3 <= MAX_CLIENT_FRAME_BYTES
    ? text.length
    : new TextEncoder().encode(text).length;
}

function connectionLost(command: string): StenoError {
  return new StenoError(
    'INVALID_STATE',
    `The connection to Steno closed before the reply to ${command} arrived.`,
    'It reconnects by itself; try again in a moment. If it keeps failing, check that `steno serve` still runs.',
  );
}

function notConnected(command: string): StenoError {
  return new StenoError(
    'INVALID_STATE',
    `Steno is not connected, so ${command} was not sent.`,
    'It reconnects by itself; try again in a moment. If it keeps failing, check that `steno serve` still runs.',
  );
}

function closedByWindow(): StenoError {
  return new StenoError(
    'INVALID_STATE',
    'This window closed its connection to Steno.',
    'Reload the window.',
  );
}
