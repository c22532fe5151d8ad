/**
 * Raw clients for testing `steno serve`: an HTTP GET that reports status,
 * headers and body, an upgrade that reports why it was refused, and a
 * WebSocket client that records what the server sent and lets a test wait
 * for a message.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { API_VERSION } from '../core/api/version';
import type { ServerMessage } from '../core/api/wire';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET `path` (sent exactly as given, `..` included) from 127.0.0.1:`port`. */
export function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/**
 * Tries a WebSocket upgrade; resolves with the HTTP status that refused it,
 * or 101 when it was accepted (the socket is closed again at once).
 */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (e) => reject(e));
  });
}

export interface Closed {
  code: number;
  reason: string;
}

export class TestSocket {
  /** Everything the server sent, parsed. Tests that stream many events count instead. */
  readonly received: ServerMessage[] = [];
  /** Messages received, counted by type (events by event type). */
  readonly counts = new Map<string, number>();
  keepMessages = true;
  readonly closed: Promise<Closed>;
  private waiters: { test: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] =
    [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
    });
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const message = JSON.parse((data as Buffer).toString('utf8')) as ServerMessage;
      const kind = message.type === 'event' ? message.event.type : message.type;
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
      if (this.keepMessages) this.received.push(message);
      const due = this.waiters.filter((w) => w.test(message));
      this.waiters = this.waiters.filter((w) => !due.includes(w));
      for (const w of due) w.resolve(message);
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<TestSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const socket = new TestSocket(ws);
      ws.once('open', () => resolve(socket));
      ws.once('error', reject);
    });
  }

  /** Opens, says hello, and waits for the welcome and the state event. */
  static async welcomed(url: string): Promise<TestSocket> {
    const socket = await TestSocket.open(url);
    const state = socket.next((m) => m.type === 'event' && m.event.type === 'state');
    socket.send({ type: 'hello', apiVersion: API_VERSION });
    await state;
    return socket;
  }

  count(kind: string): number {
    return this.counts.get(kind) ?? 0;
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  /** The next message (from now on) that passes `test`. */
  next(test: (m: ServerMessage) => boolean, timeoutMs = 10_000): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no such message in time')), timeoutMs);
      this.waiters.push({
        test,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** Sends a call and waits for its reply. */
  async call(id: number, command: string, params: unknown = {}): Promise<ServerMessage> {
    const reply = this.next((m) => m.type === 'reply' && m.reply.id === id);
    this.send({ type: 'call', request: { id, command, params } });
    return reply;
  }

  async close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close();
    }
    return this.closed;
  }
}
