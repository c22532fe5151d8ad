import { describe, expect, it } from 'vitest';
import { isStenoError } from '../../core/errors';
import {
  allowedOrigins,
  contentSecurityPolicy,
  decideListenHost,
  generateToken,
  isLoopbackHost,
  tokensMatch,
} from './security';

describe('decideListenHost', () => {
  it('accepts loopback addresses without a warning', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'LOCALHOST']) {
      expect(decideListenHost(host, false)).toEqual({ host, warning: null });
    }
  });

  it('refuses any other address without --allow-remote', () => {
    for (const host of [
      '0.0.0.0',
      '::',
      '192.168.1.5',
      'example.com',
      '128.0.0.1',
      '::ffff:10.0.0.1',
    ]) {
      let thrown: unknown;
      try {
        decideListenHost(host, false);
      } catch (e) {
        thrown = e;
      }
      expect(isStenoError(thrown), host).toBe(true);
      expect((thrown as { code: string }).code).toBe('INVALID_ARGUMENT');
      expect((thrown as Error).message).toContain(host);
    }
  });

  it('allows another address with --allow-remote, with a warning', () => {
    const decision = decideListenHost('0.0.0.0', true);
    expect(decision.host).toBe('0.0.0.0');
    expect(decision.warning).toMatch(/other machines can reach/);
  });

  it('refuses a host that is not an address at all', () => {
    expect(() => decideListenHost('', true)).toThrow(/--host/);
    expect(() => decideListenHost('a b', true)).toThrow(/--host/);
    expect(() => decideListenHost('evil.com/x', true)).toThrow(/--host/);
  });
});

describe('tokens', () => {
  it('are 32 URL-safe characters and differ each time', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(a).not.toBe(b);
  });

  it('match only the exact token', () => {
    const token = generateToken();
    expect(tokensMatch(token, token)).toBe(true);
    expect(tokensMatch(token.slice(0, -1), token)).toBe(false);
    expect(tokensMatch(token + 'x', token)).toBe(false);
    expect(tokensMatch('', token)).toBe(false);
    expect(tokensMatch(null, token)).toBe(false);
    expect(
      tokensMatch(token.toUpperCase() === token ? token.toLowerCase() : token.toUpperCase(), token),
    ).toBe(false);
  });
});

describe('origins and policy', () => {
  it('allow the server itself by its loopback names and the host given', () => {
    expect([...(allowedOrigins('127.0.0.1', 4000) ?? [])].sort()).toEqual([
      'http://127.0.0.1:4000',
      'http://localhost:4000',
    ]);
    expect(allowedOrigins('::1', 4000)).toContain('http://[::1]:4000');
    expect(allowedOrigins('0.0.0.0', 4000)).toBeNull();
  });

  it('recognises loopback names', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
    expect(isLoopbackHost('localhost.example.com')).toBe(false);
  });

  it('CSP allows scripts only from the server and sockets only back to it', () => {
    const csp = contentSecurityPolicy(['127.0.0.1:4000', 'localhost:4000']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("connect-src 'self' ws://127.0.0.1:4000 ws://localhost:4000");
  });
});
