/**
 * The server behind `steno serve`: the built renderer over HTTP and the API
 * over one WebSocket (`/api`), on loopback unless told otherwise. Every
 * request and upgrade carries the run's token and, when it says where it
 * comes from, an Origin of this server; every event is serialized once and
 * queued for each client within that client's bounds.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiBackend } from '../../core/api/backend';
import { coalesceKey, type StenoEvent } from '../../core/api/events';
import type { ApiError } from '../../core/api/types';
import { MAX_CLIENT_FRAME_BYTES, MAX_MESSAGE_CHARS } from '../../core/api/wire';
import { StenoError } from '../../core/errors';
import { Emitter } from '../../core/event';
import { Disposable } from '../../core/lifecycle';
import { onUnexpectedError } from '../../core/unexpected-error';
import {
  ClientConnection,
  CLOSE_GOING_AWAY,
  CLOSE_WITH_BYE,
  DEFAULT_CLIENT_LIMITS,
  serializeMessage,
  type ClientLimits,
} from './client-connection';
import {
  allowedHosts,
  allowedOrigins,
  checkRequest,
  COMMON_HEADERS,
  contentSecurityPolicy,
  decideListenHost,
  generateToken,
  hostWithPort,
  isWildcardHost,
  tokenCookie,
  tokenCookieName,
  type DoorPolicy,
} from './security';
import { lookupStatic, NOT_BUILT_PAGE } from './static-files';

/** The WebSocket's path. */
export const API_PATH = '/api';
/** Clients at once; one more is refused (503). A page reconnects, it does not multiply. */
export const MAX_CLIENTS = 32;

export interface StenoServerOptions {
  backend: ApiBackend;
  /** The built renderer (out/renderer); it may not exist yet. */
  rendererDir: string;
  /** Default 127.0.0.1; anything but loopback needs `allowRemote`. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  allowRemote?: boolean;
  /** Tests lower these to reach the limits quickly. */
  limits?: Partial<ClientLimits>;
  maxClients?: number;
}

export interface ClientDisconnected {
  /** Why the server sent it away; null when the client left by itself. */
  bye: ApiError | null;
}

export class StenoServer extends Disposable {
  readonly token = generateToken();
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  /** Capacity: `maxClients`; an upgrade beyond it is refused with 503. */
  private readonly clients = new Set<ClientConnection>();
  private readonly limits: ClientLimits;
  private readonly maxClients: number;
  private policy: DoorPolicy | null = null;
  private listenHost = '127.0.0.1';
  private listenPort = 0;
  private closing: Promise<void> | null = null;
  /** Set by stopAccepting: why calls are refused; the listener's close, once asked. */
  private refusal: ApiError | null = null;
  private listenerClosed: Promise<void> | null = null;
  private readonly disconnectEmitter = this._register(new Emitter<ClientDisconnected>());
  /**
   * A client left, or the server sent it away (too slow, malformed, another
   * API version, shutdown): once per client, when the bye is sent or the
   * socket closed without one, whichever is first.
   */
  readonly onDidDisconnectClient = this.disconnectEmitter.event;

  /** Listens and resolves once the port is known. */
  static async start(options: StenoServerOptions): Promise<StenoServer> {
    const decision = decideListenHost(options.host ?? '127.0.0.1', options.allowRemote ?? false);
    const server = new StenoServer(options);
    try {
      await server.listen(decision.host, options.port ?? 0);
    } catch (e) {
      server.dispose();
      throw e;
    }
    return server;
  }

  private constructor(private readonly options: StenoServerOptions) {
    super();
    this.limits = { ...DEFAULT_CLIENT_LIMITS, ...options.limits };
    this.maxClients = options.maxClients ?? MAX_CLIENTS;
    this.http = http.createServer((req, res) => {
      this.handleRequest(req, res).catch((e: unknown) => {
        onUnexpectedError(e);
        if (!res.headersSent) this.respond(res, 500, 'Internal error.\n');
        else res.destroy();
      });
    });
    // Slow or silent HTTP clients must not hold sockets forever.
    this.http.requestTimeout = 30_000;
    this.http.headersTimeout = 10_000;
    this.http.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
    this.http.on('clientError', (_e, socket) => socket.destroy());
    this.wss = new WebSocketServer({
      noServer: true,
      // A bigger frame closes the connection (1009) before it is buffered.
      maxPayload: MAX_CLIENT_FRAME_BYTES,
      // Compression would keep a zlib context per client; events are small and on loopback.
      perMessageDeflate: false,
      clientTracking: false,
    });
    this._register(options.backend.onDidEvent((event) => this.broadcast(event)));
  }

  get port(): number {
    return this.listenPort;
  }

  /** The server's own origin as the printed URL names it. */
  get origin(): string {
    const host = isWildcardHost(this.listenHost) ? '127.0.0.1' : this.listenHost;
    return `http://${hostWithPort(host, this.listenPort)}`;
  }

  /** What a person opens: the origin with the token. */
  get url(): string {
    return `${this.origin}/?token=${this.token}`;
  }

  /** The WebSocket's URL, token included. */
  get apiUrl(): string {
    return `${this.origin.replace(/^http:/, 'ws:')}${API_PATH}?token=${this.token}`;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * The first step of stopping, taken at once: no new connections (the port
   * closes), and every call from a connected client is answered with `refusal`
   * instead of reaching the backend. Events still reach the clients, so they
   * see the recording in progress finish; close() then sends them away.
   */
  stopAccepting(refusal: ApiError): void {
    this.refusal ??= refusal;
    this.listenerClosed ??= new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const c of this.clients) c.refuseCalls(this.refusal);
  }

  /**
   * Stops: no new connections, a bye to every client, then waits for them to
   * close (each is cut off after its close deadline) and for the port to close.
   */
  close(): Promise<void> {
    this.closing ??= this.closeGracefully();
    return this.closing;
  }

  private async closeGracefully(): Promise<void> {
    this.listenerClosed ??= new Promise<void>((resolve) => this.http.close(() => resolve()));
    const serverClosed = this.listenerClosed;
    const goodbye: ApiError = {
      code: 'INVALID_STATE',
      message: 'Steno stopped serving.',
      action: 'Start `steno serve` again, then open the new address it prints.',
    };
    const clientsClosed = [...this.clients].map(
      (c) => new Promise<void>((resolve) => c.onDidClose(() => resolve())),
    );
    for (const c of this.clients) c.sayBye(goodbye, CLOSE_GOING_AWAY);
    await Promise.all(clientsClosed);
    // Keep-alive HTTP sockets would keep the port open until they time out.
    this.http.closeAllConnections();
    await serverClosed;
  }

  override dispose(): void {
    for (const c of this.clients) c.terminate();
    for (const c of this.clients) c.dispose();
    this.clients.clear();
    this.http.closeAllConnections();
    this.http.close();
    this.wss.close();
    super.dispose();
  }

  private listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        this.http.off('listening', onListening);
        reject(listenError(e, host, port));
      };
      const onListening = () => {
        this.http.off('error', onError);
        const address = this.http.address() as AddressInfo;
        this.listenHost = host;
        this.listenPort = address.port;
        this.policy = {
          token: this.token,
          hosts: allowedHosts(host, address.port),
          origins: allowedOrigins(host, address.port),
          cookieName: tokenCookieName(address.port),
          acceptCookie: true,
        };
        resolve();
      };
      this.http.once('error', onError);
      this.http.once('listening', onListening);
      this.http.listen(port, host);
    });
  }

  private broadcast(event: StenoEvent): void {
    if (this.clients.size === 0) return;
    const data = serializeMessage({ type: 'event', event });
    if (data.length > MAX_MESSAGE_CHARS) {
      // Clients refuse such a message; dropping it silently would leave them wrong, so they resync.
      onUnexpectedError(new Error(`event ${event.type} is ${data.length} bytes, above the limit`));
      for (const c of this.clients) {
        c.sayBye(
          {
            code: 'INTERNAL',
            message: 'Steno produced an event too large to send.',
            action: 'The window reconnects to resynchronise; report this bug.',
          },
          CLOSE_WITH_BYE,
        );
      }
      return;
    }
    const key = coalesceKey(event);
    for (const c of this.clients) c.sendEvent(data, key);
  }

  private async handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const policy = this.policy;
    const url = parseRequestUrl(req.url);
    if (!policy || !url) return this.respond(res, 400, 'Bad request.\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.respond(res, 405, 'Only GET and HEAD are served.\n');
    }
    const verdict = checkRequest(req, url, policy);
    if (!verdict.ok) return this.respond(res, verdict.status, refusal(verdict.status));
    if (url.pathname === API_PATH) return this.respond(res, 426, 'This path is a WebSocket.\n');

    const found = await lookupStatic(this.options.rendererDir, url.pathname);
    switch (found.kind) {
      case 'bad-path':
        return this.respond(res, 400, 'That path is not served.\n');
      case 'not-found':
        return this.respond(res, 404, 'Not found.\n');
      case 'not-built':
        return this.respond(res, 503, NOT_BUILT_PAGE, 'text/html; charset=utf-8');
    }
    this.writeCommonHeaders(res);
    res.setHeader('Content-Type', found.contentType);
    res.setHeader('Content-Length', found.size);
    if (found.isHtml) {
      this.writeHtmlHeaders(res);
      if (verdict.viaQuery) res.setHeader('Set-Cookie', tokenCookie(policy.cookieName, this.token));
    } else {
      res.setHeader('Cache-Control', 'no-cache');
    }
    res.statusCode = 200;
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // An error here is a client that went away mid-file (or a file that vanished
    // mid-read): the response is already cut, and nothing else is owed to anyone.
    pipeline(fs.createReadStream(found.file), res, () => {});
  }

  private handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // Until ws takes the socket, a reset must not become an uncaught 'error'.
    const onSocketError = () => socket.destroy();
    socket.on('error', onSocketError);
    try {
      const policy = this.policy;
      const url = parseRequestUrl(req.url);
      if (!policy || !url) return rejectUpgrade(socket, 400);
      if (url.pathname !== API_PATH) return rejectUpgrade(socket, 404);
      const verdict = checkRequest(req, url, { ...policy, acceptCookie: false });
      if (!verdict.ok) return rejectUpgrade(socket, verdict.status);
      if (this.closing || this.refusal) return rejectUpgrade(socket, 503);
      if (this.clients.size >= this.maxClients) return rejectUpgrade(socket, 503);
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', onSocketError);
        this.accept(ws);
      });
    } catch (e) {
      onUnexpectedError(e);
      socket.destroy();
    }
  }

  private accept(ws: WebSocket): void {
    if (this.closing || this.refusal || this._store.isDisposed) {
      ws.terminate();
      return;
    }
    const client = new ClientConnection(ws, this.options.backend, this.limits);
    this.clients.add(client);
    let reported = false;
    const report = (bye: ApiError | null) => {
      if (reported) return;
      reported = true;
      this.disconnectEmitter.fire({ bye });
    };
    // Both subscriptions belong to the client's emitters and end with client.dispose().
    client.onDidSayBye((bye) => report(bye));
    client.onDidClose((closed) => {
      this.clients.delete(client);
      client.dispose();
      report(closed.bye);
    });
  }

  private respond(
    res: http.ServerResponse,
    status: number,
    body: string,
    contentType = 'text/plain; charset=utf-8',
  ): void {
    this.writeCommonHeaders(res);
    if (contentType.startsWith('text/html')) this.writeHtmlHeaders(res);
    else res.setHeader('Cache-Control', 'no-store');
    res.statusCode = status;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  }

  private writeCommonHeaders(res: http.ServerResponse): void {
    for (const [name, value] of Object.entries(COMMON_HEADERS)) res.setHeader(name, value);
  }

  private writeHtmlHeaders(res: http.ServerResponse): void {
    const hosts = this.policy?.hosts ?? [hostWithPort('127.0.0.1', this.listenPort)];
    res.setHeader('Content-Security-Policy', contentSecurityPolicy(hosts));
    res.setHeader('Cache-Control', 'no-store');
  }
}

function parseRequestUrl(raw: string | undefined): URL | null {
  if (typeof raw !== 'string' || !raw.startsWith('/')) return null;
  try {
    return new URL(raw, 'http://steno.invalid');
  } catch {
    return null;
  }
}

function refusal(status: 401 | 403): string {
  return status === 401
    ? 'This address needs the token Steno printed when it started (open the full URL it printed).\n'
    : 'Requests from other sites are refused.\n';
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  503: 'Service Unavailable',
};

/** Answers a refused upgrade with a plain HTTP status, then closes the socket. */
function rejectUpgrade(socket: Duplex, status: number): void {
  const body = `${STATUS_TEXT[status] ?? 'Refused'}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Refused'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
      body,
  );
}

function listenError(e: NodeJS.ErrnoException, host: string, port: number): StenoError {
  switch (e.code) {
    case 'EADDRINUSE':
      return new StenoError(
        'INVALID_ARGUMENT',
        `Port ${port} on ${host} is in use already.`,
        'Choose another --port, or leave --port out to get a free one.',
        { cause: e },
      );
    case 'EACCES':
      return new StenoError(
        'INVALID_ARGUMENT',
        `Steno may not listen on port ${port}.`,
        'Choose a port above 1023, or leave --port out to get a free one.',
        { cause: e },
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StenoError(
        'INVALID_ARGUMENT',
        `${host} is not an address of this machine.`,
        'Leave --host out to serve on 127.0.0.1.',
        { cause: e },
      );
    default:
      return new StenoError(
        'INTERNAL',
        `Steno could not listen on ${host}:${port}: ${e.message}.`,
        'Try another --port, or leave --host and --port out.',
        { cause: e },
      );
  }
}
