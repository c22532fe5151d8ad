import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION } from '../../core/api/version';
import { ServerMessageSchema, type ServerMessage } from '../../core/api/wire';
import { FAKE_APP_INFO, FakeBackend, sampleEvents } from '../../testing/fake-backend';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { httpGet, TestSocket, upgradeStatus } from '../../testing/ws-test-client';
import { StenoServer } from './steno-server';

let dir: string;
let rendererDir: string;
let backend: FakeBackend;
let server: StenoServer;

const INDEX =
  '<!doctype html><html><head><script type="module" src="./assets/app.js"></script></head></html>';

beforeEach(async () => {
  dir = makeTempDir('steno-serve-');
  rendererDir = path.join(dir, 'renderer');
  fs.mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(rendererDir, 'index.html'), INDEX);
  fs.writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log("steno");\n');
  fs.writeFileSync(path.join(rendererDir, 'assets', 'style.css'), 'body{}\n');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'SECRET OUTSIDE THE BUILD\n');
  backend = new FakeBackend({ appInfo: () => FAKE_APP_INFO });
  server = await StenoServer.start({ backend, rendererDir });
});

afterEach(async () => {
  await server.close();
  server.dispose();
  backend.dispose();
  removeTempDir(dir);
});

const withToken = (p: string) => `${p}${p.includes('?') ? '&' : '?'}token=${server.token}`;

describe('HTTP', () => {
  it('listens on 127.0.0.1 with a random port and prints a URL with the token', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
  });

  it('refuses requests without the token or with a wrong one', async () => {
    expect((await httpGet(server.port, '/')).status).toBe(401);
    expect((await httpGet(server.port, '/assets/app.js')).status).toBe(401);
    expect((await httpGet(server.port, '/?token=wrong')).status).toBe(401);
    expect((await httpGet(server.port, `/?token=${server.token}x`)).status).toBe(401);
    const wrongCookie = await httpGet(server.port, '/assets/app.js', {
      Cookie: `steno_token_${server.port}=nope`,
    });
    expect(wrongCookie.status).toBe(401);
    expect(wrongCookie.body).not.toContain('steno');
  });

  it('refuses a foreign Origin even with the right token', async () => {
    const answer = await httpGet(server.port, withToken('/'), { Origin: 'http://evil.example' });
    expect(answer.status).toBe(403);
    const otherPort = await httpGet(server.port, withToken('/'), {
      Origin: `http://127.0.0.1:${server.port + 1}`,
    });
    expect(otherPort.status).toBe(403);
  });

  it('refuses a Host that is not this server (DNS rebinding)', async () => {
    const answer = await httpGet(server.port, withToken('/'), {
      Host: `evil.example:${server.port}`,
    });
    expect(answer.status).toBe(403);
  });

  it('serves the page with the token, its own Origin, strict headers and the cookie', async () => {
    const answer = await httpGet(server.port, withToken('/'), {
      Origin: `http://localhost:${server.port}`,
      Host: `localhost:${server.port}`,
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(INDEX);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['cache-control']).toBe('no-store');
    const csp = String(answer.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${server.port}`);
    expect(csp).not.toContain('unsafe-inline');
    const cookie = String(answer.headers['set-cookie']);
    expect(cookie).toContain(`steno_token_${server.port}=${server.token}`);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
  });

  it("lets the page's assets in with the cookie alone", async () => {
    const page = await httpGet(server.port, withToken('/'));
    const cookie = String(page.headers['set-cookie']).split(';')[0]!;
    const asset = await httpGet(server.port, '/assets/app.js', { Cookie: `other=1; ${cookie}` });
    expect(asset.status).toBe(200);
    expect(asset.body).toBe('console.log("steno");\n');
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['x-content-type-options']).toBe('nosniff');
    expect(asset.headers['set-cookie']).toBeUndefined();
  });

  it('refuses every path out of the renderer folder', async () => {
    fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(rendererDir, 'assets', 'link.txt'));
    const attempts = [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/..%5csecret.txt',
      '/%2e%2e%5csecret.txt',
      '/assets/link.txt',
      '/assets/app.js%00.html',
      '/.%2e/secret.txt',
      '/%252e%252e/secret.txt',
      '//' + path.join(dir, 'secret.txt'),
      '/' + encodeURIComponent(path.join(dir, 'secret.txt')),
      '/%E0%A4%A',
    ];
    for (const attempt of attempts) {
      const answer = await httpGet(server.port, withToken(attempt));
      expect(answer.body, attempt).not.toContain('SECRET');
      expect([400, 404], attempt).toContain(answer.status);
    }
    // The same request shape for a file inside works, so the refusals are about the path.
    expect((await httpGet(server.port, withToken('/assets/style.css'))).status).toBe(200);
    expect((await httpGet(server.port, withToken('/assets/nope.js'))).status).toBe(404);
  });

  it('answers 503 with a build hint when the renderer was not built', async () => {
    const other = await StenoServer.start({ backend, rendererDir: path.join(dir, 'missing') });
    try {
      const answer = await httpGet(other.port, `/?token=${other.token}`);
      expect(answer.status).toBe(503);
      expect(answer.body).toContain('npm run build');
      expect(answer.headers['content-security-policy']).toContain("default-src 'self'");
    } finally {
      await other.close();
      other.dispose();
    }
  });
});

describe('WebSocket upgrade', () => {
  const api = () => `ws://127.0.0.1:${server.port}/api`;

  it('refuses an upgrade without the token, with a wrong one, or from a foreign Origin', async () => {
    expect(await upgradeStatus(api())).toBe(401);
    expect(await upgradeStatus(`${api()}?token=wrong`)).toBe(401);
    expect(
      await upgradeStatus(`${api()}?token=${server.token}`, { Origin: 'http://evil.example' }),
    ).toBe(403);
    // The cookie is for the page's files; the WebSocket needs the token in its URL.
    expect(
      await upgradeStatus(api(), { Cookie: `steno_token_${server.port}=${server.token}` }),
    ).toBe(401);
    expect(await upgradeStatus(`ws://127.0.0.1:${server.port}/other?token=${server.token}`)).toBe(
      404,
    );
    expect(server.clientCount).toBe(0);
  });

  it('accepts the right token with its own Origin or none', async () => {
    expect(await upgradeStatus(server.apiUrl)).toBe(101);
    expect(await upgradeStatus(server.apiUrl, { Origin: `http://127.0.0.1:${server.port}` })).toBe(
      101,
    );
  });
});

describe('protocol', () => {
  it('welcomes, sends the state, and answers calls', async () => {
    backend.state = { ...backend.state, hostState: 'ready' };
    const socket = await TestSocket.open(server.apiUrl);
    const two = [socket.next(() => true), socket.next((m) => m.type === 'event')];
    socket.send({ type: 'hello', apiVersion: API_VERSION });
    const [welcome, state] = await Promise.all(two);
    expect(welcome).toEqual({ type: 'welcome', apiVersion: API_VERSION });
    expect(state).toEqual({ type: 'event', event: { type: 'state', state: backend.state } });
    expect(socket.received[0]).toEqual(welcome);

    expect(await socket.call(7, 'appInfo')).toEqual({
      type: 'reply',
      reply: { id: 7, ok: true, result: FAKE_APP_INFO },
    });
    const unknown = await socket.call(8, 'noSuchCommand');
    expect(unknown.type === 'reply' && !unknown.reply.ok && unknown.reply.error.code).toBe(
      'UNKNOWN_COMMAND',
    );
    await socket.close();
  });

  it('answers a call before the hello with an error, and a hello of another version with a bye', async () => {
    const socket = await TestSocket.open(server.apiUrl);
    const early = await socket.call(1, 'appInfo');
    expect(early.type === 'reply' && !early.reply.ok && early.reply.error.code).toBe(
      'INVALID_PAYLOAD',
    );
    const bye = socket.next((m) => m.type === 'bye');
    socket.send({ type: 'hello', apiVersion: API_VERSION + 1 });
    const message = await bye;
    expect(message.type === 'bye' && message.error.code).toBe('API_VERSION_MISMATCH');
    expect((await socket.closed).code).toBe(4000);
    expect(socket.received.some((m) => m.type === 'welcome')).toBe(false);
  });

  it('replies to a malformed call that has an id, ignores one without', async () => {
    const socket = await TestSocket.welcomed(server.apiUrl);
    const bad = await (async () => {
      const reply = socket.next((m) => m.type === 'reply');
      socket.send({ type: 'call', request: { id: 5, command: 42 } });
      return reply;
    })();
    expect(
      bad.type === 'reply' && bad.reply.id === 5 && !bad.reply.ok && bad.reply.error.code,
    ).toBe('INVALID_PAYLOAD');
    const before = socket.received.length;
    socket.sendRaw('not json', false);
    socket.sendRaw(Buffer.from([1, 2, 3]), true);
    socket.send({ type: 'call' });
    // The call after them is answered, and nothing came for the three before it.
    await socket.call(6, 'appInfo');
    expect(socket.received.length).toBe(before + 1);
    await socket.close();
  });

  it(`disconnects a client after more than 100 malformed messages in a row`, async () => {
    const socket = await TestSocket.welcomed(server.apiUrl);
    for (let i = 0; i < 100; i++) socket.sendRaw('{', false);
    await socket.call(1, 'appInfo'); // a good message resets the count
    for (let i = 0; i < 100; i++) socket.sendRaw('{', false);
    await socket.call(2, 'appInfo');
    const bye = socket.next((m) => m.type === 'bye');
    for (let i = 0; i < 101; i++) socket.sendRaw('{', false);
    const message = await bye;
    expect(message.type === 'bye' && message.error.code).toBe('INVALID_PAYLOAD');
    await socket.closed;
  });

  it('closes a connection that sends a frame above 1 MiB, and stays up', async () => {
    const socket = await TestSocket.welcomed(server.apiUrl);
    socket.sendRaw('x'.repeat(1024 * 1024 + 1), false);
    expect((await socket.closed).code).toBe(1009);
    const next = await TestSocket.welcomed(server.apiUrl);
    expect((await next.call(1, 'appInfo')).type).toBe('reply');
    await next.close();
  });

  it('gives two clients the same state and the same events, in order', async () => {
    const a = await TestSocket.welcomed(server.apiUrl);
    const b = await TestSocket.welcomed(server.apiUrl);
    const events = [
      sampleEvents.segment(0, 'hello'),
      sampleEvents.level(-20),
      sampleEvents.segment(1, 'world'),
      { type: 'recording.deleted', id: 'r1' } as const,
    ];
    const doneA = a.next((m) => m.type === 'event' && m.event.type === 'recording.deleted');
    const doneB = b.next((m) => m.type === 'event' && m.event.type === 'recording.deleted');
    for (const e of events) backend.fire(e);
    await Promise.all([doneA, doneB]);
    const eventsOf = (s: TestSocket) =>
      s.received.flatMap((m: ServerMessage) => (m.type === 'event' ? [m.event] : []));
    expect(eventsOf(a)).toEqual([{ type: 'state', state: backend.state }, ...events]);
    expect(eventsOf(b)).toEqual(eventsOf(a));
    for (const m of [...a.received, ...b.received])
      expect(ServerMessageSchema.safeParse(m).success).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  it('sends no events to a client before its hello', async () => {
    const socket = await TestSocket.open(server.apiUrl);
    backend.fire(sampleEvents.segment(0, 'too early'));
    const state = socket.next((m) => m.type === 'event');
    socket.send({ type: 'hello', apiVersion: API_VERSION });
    await state;
    await socket.call(1, 'appInfo');
    expect(socket.received.map((m) => m.type)).toEqual(['welcome', 'event', 'reply']);
    await socket.close();
  });

  it('once it stops accepting, refuses new connections and calls but still sends events', async () => {
    const client = await TestSocket.welcomed(server.apiUrl);
    const callsBefore = backend.callCount;
    const refusal = {
      code: 'INVALID_STATE' as const,
      message: 'Steno is stopping.',
      action: 'Start it again.',
    };
    server.stopAccepting(refusal);
    const reply = await client.call(7, 'appInfo');
    expect(reply).toEqual({ type: 'reply', reply: { id: 7, ok: false, error: refusal } });
    expect(backend.callCount).toBe(callsBefore);
    // The port is closed to newcomers at once.
    await expect(upgradeStatus(server.apiUrl)).rejects.toThrow();
    await expect(httpGet(server.port, withToken('/'))).rejects.toThrow();
    const event = sampleEvents.segment(0, 'the last words');
    const delivered = client.next((m) => m.type === 'event' && m.event.type === event.type);
    backend.fire(event);
    expect(await delivered).toEqual({ type: 'event', event });
    const bye = client.next((m) => m.type === 'bye');
    await server.close();
    expect((await bye).type).toBe('bye');
    expect((await client.closed).code).toBe(1001);
  });

  it('says bye to every client when it closes', async () => {
    const a = await TestSocket.welcomed(server.apiUrl);
    const b = await TestSocket.welcomed(server.apiUrl);
    const byes = [a, b].map((s) => s.next((m) => m.type === 'bye'));
    await server.close();
    for (const bye of await Promise.all(byes)) expect(bye.type).toBe('bye');
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    expect(server.clientCount).toBe(0);
    await expect(upgradeStatus(server.apiUrl)).rejects.toThrow();
  });
});
