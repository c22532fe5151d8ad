/**
 * One browser (or other client) connected to `steno serve` over a WebSocket.
 *
 * It speaks the wire protocol of src/core/api/wire.ts: a hello first, then
 * calls answered from the backend and every event after the current state.
 * Everything it sends waits in one bounded queue and reaches the socket only
 * while the socket's own buffer is small, so a client that stops reading
 * costs at most the queue's capacity plus the high-water mark; when the queue
 * overflows the client is told it was too slow and disconnected, and
 * resynchronises from the state it gets on reconnecting.
 *
 * Nothing a client sends can throw here: a malformed message gets an error
 * reply when it carries a usable id, and is ignored otherwise.
 */
import type { RawData, WebSocket } from 'ws';
import type { ApiBackend, CallOutcome } from '../../core/api/backend';
import { BoundedEventQueue } from '../../core/api/event-queue';
import type { ApiError } from '../../core/api/types';
import { API_VERSION } from '../../core/api/version';
import {
  ClientMessageSchema,
  describeIssues,
  invalidPayload,
  MAX_MESSAGE_CHARS,
  parseJsonMessage,
  RequestSchema,
  versionMismatch,
  type Reply,
  type Request,
  type ServerMessage,
} from '../../core/api/wire';
import { Emitter } from '../../core/event';
import { Disposable, MutableDisposable, toDisposable } from '../../core/lifecycle';
import { onUnexpectedError } from '../../core/unexpected-error';

export interface ClientLimits {
  /** Messages waiting for one client's socket (the BoundedEventQueue's items). */
  queueMessages: number;
  /**
   * Bytes of those messages: the largest message (MAX_MESSAGE_CHARS) fits in
   * an empty queue; one that large behind others counts as falling behind.
   */
  queueBytes: number;
  /** Messages go to the socket only while fewer bytes than this wait in it. */
  socketHighWaterBytes: number;
  /** Calls of one client the backend is working on; one more is refused with an error reply. */
  maxCallsInFlight: number;
  /** Malformed messages in a row after which the client is disconnected. */
  maxBadMessagesInARow: number;
  /** A client that has not said hello by then is disconnected. */
  helloTimeoutMs: number;
  /** After a bye, the socket is destroyed if the client has not closed it by then. */
  closeDeadlineMs: number;
}

export const DEFAULT_CLIENT_LIMITS: ClientLimits = {
  queueMessages: 1024,
  queueBytes: MAX_MESSAGE_CHARS,
  socketHighWaterBytes: 256 * 1024,
  maxCallsInFlight: 64,
  maxBadMessagesInARow: 100,
  helloTimeoutMs: 10_000,
  closeDeadlineMs: 3_000,
};

/** WebSocket close codes: 1001 when the server stops; 4000 for every bye with a reason. */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_WITH_BYE = 4000;

export interface ClientClosed {
  /** The bye the server sent, or null when the client closed or the connection broke. */
  bye: ApiError | null;
}

/** A server message as the UTF-8 bytes of its JSON, made once however many clients get it. */
export function serializeMessage(message: ServerMessage): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

export function clientTooSlow(): ApiError {
  return {
    code: 'CLIENT_TOO_SLOW',
    message: 'This window fell too far behind Steno’s events and was disconnected.',
    action: 'It reconnects to resynchronise; if it keeps happening, close other heavy tabs.',
  };
}

type Phase = 'awaiting-hello' | 'open' | 'closing' | 'closed';

export class ClientConnection extends Disposable {
  /**
   * Everything on its way to this client: replies, the welcome, events.
   * Capacity: `limits.queueMessages` messages and `limits.queueBytes` bytes.
   * A coalesced event supersedes its waiting predecessor (which is skipped,
   * so the order holds); when full of messages that must all arrive, the next
   * one disconnects the client with CLIENT_TOO_SLOW (see BoundedEventQueue).
   */
  private readonly queue: BoundedEventQueue<Buffer>;
  private phase: Phase = 'awaiting-hello';
  private callsInFlight = 0;
  private badInARow = 0;
  private byeSent: ApiError | null = null;
  /** Once set, every call is answered with this error instead of reaching the backend. */
  private callRefusal: ApiError | null = null;
  private readonly timer = this._register(new MutableDisposable());
  private readonly closeEmitter = this._register(new Emitter<ClientClosed>());
  /** The socket closed (after a bye, or without one); fired once. */
  readonly onDidClose = this.closeEmitter.event;
  private readonly byeEmitter = this._register(new Emitter<ApiError>());
  /** The server decided to send this client away; the socket closes soon after. */
  readonly onDidSayBye = this.byeEmitter.event;
  /** Messages ignored or answered with an error, since the connection opened. */
  badMessages = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly backend: ApiBackend,
    private readonly limits: ClientLimits,
  ) {
    super();
    this.queue = new BoundedEventQueue<Buffer>(
      limits.queueMessages,
      limits.queueBytes,
      (b) => b.length,
    );
    const onMessage = (data: RawData, isBinary: boolean) =>
      this.guard(() => this.receive(data, isBinary));
    const onClose = () => this.guard(() => this.closed());
    // Protocol errors (invalid UTF-8, a frame above maxPayload) arrive here and are
    // followed by 'close'; the socket is already being torn down by ws itself.
    const onError = () => {};
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
    this._register(
      toDisposable(() => {
        ws.off('message', onMessage);
        ws.off('close', onClose);
        ws.off('error', onError);
      }),
    );
    this.startTimer(limits.helloTimeoutMs, () =>
      this.sayBye(
        invalidPayload('The connection', 'no hello arrived within the time allowed'),
        CLOSE_WITH_BYE,
      ),
    );
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  /** Messages waiting for the socket now (for tests and metrics). */
  get queuedMessages(): number {
    return this.queue.size;
  }

  /** Queues an event, already serialized; ignored until the client said hello. */
  sendEvent(data: Buffer, coalesceKey: string | null): void {
    if (this.phase !== 'open') return;
    this.enqueue(data, coalesceKey);
  }

  /**
   * Sends `error` as a bye and closes; what was still queued is dropped, since
   * the client resynchronises on reconnecting anyway. A client that does not
   * finish the close within the deadline is cut off.
   */
  sayBye(error: ApiError, closeCode: number): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    this.phase = 'closing';
    this.byeSent = error;
    this.queue.clear();
    try {
      this.ws.send(serializeMessage({ type: 'bye', error }), { binary: false });
      this.ws.close(closeCode, error.code);
    } catch {
      // The socket is already unusable (closed under us): cut it off.
      this.ws.terminate();
    }
    this.startTimer(this.limits.closeDeadlineMs, () => this.ws.terminate());
    this.byeEmitter.fire(error);
  }

  /** From now on every call gets `error` as its reply (the server is stopping); events still flow. */
  refuseCalls(error: ApiError): void {
    this.callRefusal ??= error;
  }

  /** Cuts the connection at once, without a goodbye (server disposal). */
  terminate(): void {
    this.ws.terminate();
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    if (isBinary) return this.bad(null);
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.from(data).toString('utf8');
    const json = parseJsonMessage(text);
    if (json === undefined) return this.bad(null);
    const parsed = ClientMessageSchema.safeParse(json);
    if (!parsed.success) {
      return this.bad(
        usableRequestId(json),
        invalidPayload('The message', describeIssues(parsed.error)),
      );
    }
    const message = parsed.data;
    if (message.type === 'hello') {
      // A second hello changes nothing: the client already has its welcome.
      if (this.phase !== 'awaiting-hello') return this.bad(null);
      if (message.apiVersion !== API_VERSION) {
        return this.sayBye(versionMismatch(message.apiVersion), CLOSE_WITH_BYE);
      }
      this.phase = 'open';
      this.badInARow = 0;
      this.timer.value = undefined;
      this.enqueue(serializeMessage({ type: 'welcome', apiVersion: API_VERSION }), null);
      this.enqueue(
        serializeMessage({
          type: 'event',
          event: { type: 'state', state: this.backend.currentState() },
        }),
        null,
      );
      return;
    }
    if (this.phase !== 'open') {
      return this.bad(
        message.request.id,
        invalidPayload('The call', 'it came before the hello that must open the connection'),
      );
    }
    this.badInARow = 0;
    this.call(message.request);
  }

  private call(request: Request): void {
    if (this.callRefusal) {
      this.reply({ id: request.id, ok: false, error: this.callRefusal });
      return;
    }
    if (this.callsInFlight >= this.limits.maxCallsInFlight) {
      this.reply({
        id: request.id,
        ok: false,
        error: {
          code: 'INVALID_STATE',
          message: `This window has ${this.limits.maxCallsInFlight} calls waiting for replies already.`,
          action: 'Wait for their replies before sending more; this is a bug in the window.',
        },
      });
      return;
    }
    this.callsInFlight++;
    let outcome: Promise<CallOutcome>;
    try {
      outcome = this.backend.call(request.command, request.params);
    } catch (e) {
      outcome = Promise.reject(e);
    }
    outcome
      .then(
        (o) =>
          o.ok
            ? { id: request.id, ok: true as const, result: o.result }
            : { id: request.id, ok: false as const, error: o.error },
        (e: unknown): Reply => {
          // The backend promised never to reject: this is a bug, reported, and the client still gets an answer.
          onUnexpectedError(e);
          return { id: request.id, ok: false, error: internalError(request.command) };
        },
      )
      .then((reply) => {
        this.callsInFlight--;
        this.reply(reply);
      })
      .catch(onUnexpectedError);
  }

  private reply(reply: Reply): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    let data = serializeMessage({ type: 'reply', reply });
    if (data.length > MAX_MESSAGE_CHARS) {
      // The client would refuse it as too large; say so instead of sending it.
      data = serializeMessage({
        type: 'reply',
        reply: {
          id: reply.id,
          ok: false,
          error: {
            code: 'INTERNAL',
            message: `The reply is ${data.length} bytes, more than the ${MAX_MESSAGE_CHARS} a message may have.`,
            action: 'Ask for a smaller page; this is a bug in Steno.',
          },
        },
      });
    }
    this.enqueue(data, null);
  }

  private bad(id: number | null, error?: ApiError): void {
    this.badMessages++;
    this.badInARow++;
    if (id !== null && error) this.reply({ id, ok: false, error });
    if (this.badInARow > this.limits.maxBadMessagesInARow) {
      this.sayBye(
        invalidPayload(
          'This connection',
          `${this.badInARow} messages in a row were malformed, so it was closed`,
        ),
        CLOSE_WITH_BYE,
      );
    }
  }

  private enqueue(data: Buffer, coalesceKey: string | null): void {
    if (this.queue.push(data, coalesceKey) === 'overflow') {
      this.sayBye(clientTooSlow(), CLOSE_WITH_BYE);
      return;
    }
    this.pump();
  }

  /** Hands queued messages to the socket while its buffer is below the high-water mark. */
  private pump(): void {
    while (
      this.phase !== 'closing' &&
      this.phase !== 'closed' &&
      this.ws.readyState === this.ws.OPEN &&
      this.ws.bufferedAmount < this.limits.socketHighWaterBytes
    ) {
      const next = this.queue.shift();
      if (next === undefined) return;
      this.ws.send(next, { binary: false }, this.afterSend);
    }
  }

  /** Called once a message left for the kernel: room again, so drain more. */
  private readonly afterSend = (error?: Error): void => {
    // A send error means the socket is closing; its 'close' event cleans up.
    if (!error) this.guard(() => this.pump());
  };

  private closed(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.timer.value = undefined;
    this.queue.clear();
    this.closeEmitter.fire({ bye: this.byeSent });
  }

  private startTimer(ms: number, run: () => void): void {
    const handle = setTimeout(() => this.guard(run), ms);
    this.timer.value = toDisposable(() => clearTimeout(handle));
  }

  /** Runs socket callbacks: whatever they throw is a bug, reported, never thrown into ws. */
  private guard(run: () => void): void {
    try {
      run();
    } catch (e) {
      onUnexpectedError(e);
    }
  }

  override dispose(): void {
    this.queue.clear();
    super.dispose();
  }
}

/** The id of a call that failed validation, if it has one the client can pair. */
function usableRequestId(json: unknown): number | null {
  if (typeof json !== 'object' || json === null) return null;
  const request = (json as { request?: unknown }).request;
  if (typeof request !== 'object' || request === null) return null;
  const id = RequestSchema.shape.id.safeParse((request as { id?: unknown }).id);
  return id.success ? id.data : null;
}

function internalError(command: string): ApiError {
  return {
    code: 'INTERNAL',
    message: `Steno failed while running ${command.slice(0, 64)}.`,
    action: 'Try again; if it happens again, report it with the log (steno --verbose).',
  };
}
