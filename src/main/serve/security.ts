/**
 * The checks at the door of `steno serve`: which address it may listen on,
 * the token every request carries, the origins a page may come from, and the
 * headers every response carries. Pure decisions, no sockets: each is tested
 * on its own.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { StenoError } from '../../core/errors';

/** A fresh token for one run of the server: 24 random bytes, URL-safe. */
export function generateToken(): string {
  return crypto.randomBytes(24).toString('base64url');
}

/**
 * Compares a presented token with the real one in constant time. Both are
 * hashed first so that their lengths (which `timingSafeEqual` needs equal)
 * tell nothing either.
 */
export function tokensMatch(presented: string | null | undefined, token: string): boolean {
  if (typeof presented !== 'string' || presented.length === 0) return false;
  const a = crypto.createHash('sha256').update(presented, 'utf8').digest();
  const b = crypto.createHash('sha256').update(token, 'utf8').digest();
  return crypto.timingSafeEqual(a, b);
}

/** Whether `host` names this machine only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.split('.')[0] === '127';
  if (net.isIPv6(bare)) {
    const lower = bare.toLowerCase();
    return lower === '::1' || lower === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(lower);
  }
  return false;
}

/** An address that listens on every interface. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

export interface ListenHostDecision {
  host: string;
  /** Said on stderr before serving, when the API is reachable from other machines. */
  warning: string | null;
}

/**
 * Decides where the server may listen: loopback always; any other address
 * only with `allowRemote`, and then with a warning, since whoever reaches the
 * port and learns the token can record from this machine's microphone.
 */
export function decideListenHost(host: string, allowRemote: boolean): ListenHostDecision {
  const trimmed = host.trim();
  if (trimmed.length === 0 || /[\s/?#@]/.test(trimmed)) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `--host needs an address such as 127.0.0.1, got "${host}".`,
      'Leave --host out to serve on 127.0.0.1.',
    );
  }
  if (isLoopbackHost(trimmed)) return { host: trimmed, warning: null };
  if (!allowRemote) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `Steno serves on this machine only (127.0.0.1 or localhost), not on "${trimmed}".`,
      'Leave --host out; add --allow-remote only if other machines must reach it, on a network you trust.',
    );
  }
  return {
    host: trimmed,
    warning:
      `steno: warning: serving on ${trimmed}: other machines can reach this port. ` +
      'Anyone who learns the token can record from this microphone and read every recording.',
  };
}

/** `host:port` as it appears in a URL (IPv6 in brackets). */
export function hostWithPort(host: string, port: number): string {
  const bare = host.startsWith('[') ? host : net.isIPv6(host) ? `[${host}]` : host;
  return `${bare}:${port}`;
}

/**
 * The `host:port` values this server answers to: 127.0.0.1, localhost and
 * the host it was given. A request naming another Host is refused, which
 * defeats DNS rebinding (a foreign name resolved to 127.0.0.1). A wildcard
 * host cannot know the names it is reached by, so it returns null: only the
 * token guards it.
 */
export function allowedHosts(host: string, port: number): ReadonlySet<string> | null {
  if (isWildcardHost(host)) return null;
  return new Set(
    [
      hostWithPort('127.0.0.1', port),
      hostWithPort('localhost', port),
      hostWithPort(host, port),
    ].map((h) => h.toLowerCase()),
  );
}

/**
 * The origins a page of this server has: `http://` + each allowed host. Null
 * for a wildcard host: there the Origin must name the Host the request was
 * sent to (a page of this server, by whatever name it was reached).
 */
export function allowedOrigins(host: string, port: number): ReadonlySet<string> | null {
  const hosts = allowedHosts(host, port);
  return hosts && new Set([...hosts].map((h) => `http://${h}`));
}

export type DoorVerdict =
  { ok: true; viaQuery: boolean } | { ok: false; status: 401 | 403; reason: string };

export interface DoorPolicy {
  token: string;
  /** Null: any Host header (wildcard listening address). */
  hosts: ReadonlySet<string> | null;
  /** Null: the Origin must be `http://` + the request's Host. */
  origins: ReadonlySet<string> | null;
  cookieName: string;
  /** The WebSocket accepts the token only in its URL, never from a cookie. */
  acceptCookie: boolean;
}

/** Checks Host, Origin and token of one request or upgrade. */
export function checkRequest(req: IncomingMessage, url: URL, policy: DoorPolicy): DoorVerdict {
  const host = req.headers.host?.toLowerCase();
  if (policy.hosts && (host === undefined || !policy.hosts.has(host))) {
    return { ok: false, status: 403, reason: 'unknown Host' };
  }
  const origin = req.headers.origin?.toLowerCase();
  const originAllowed = policy.origins
    ? origin !== undefined && policy.origins.has(origin)
    : origin !== undefined && host !== undefined && origin === `http://${host}`;
  if (origin !== undefined && !originAllowed) {
    return { ok: false, status: 403, reason: 'foreign Origin' };
  }
  const fromQuery = url.searchParams.get('token');
  if (fromQuery !== null) {
    return tokensMatch(fromQuery, policy.token)
      ? { ok: true, viaQuery: true }
      : { ok: false, status: 401, reason: 'wrong token' };
  }
  if (policy.acceptCookie && tokensMatch(readCookie(req, policy.cookieName), policy.token)) {
    return { ok: true, viaQuery: false };
  }
  return { ok: false, status: 401, reason: 'no token' };
}

/** One cookie's value from the Cookie header; null when absent. */
export function readCookie(req: IncomingMessage, name: string): string | null {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * The cookie that lets a page's own asset requests in after the page was
 * opened with `?token=`. Cookies are per host, not per port, so the name
 * carries the port: two servers on one machine do not overwrite each other's.
 */
export function tokenCookieName(port: number): string {
  return `steno_token_${port}`;
}

export function tokenCookie(name: string, token: string): string {
  return `${name}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}

/** Headers on every response. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * The policy for HTML pages: the app's own files only, no inline script or
 * style, and WebSockets only back to this server.
 */
export function contentSecurityPolicy(hostsWithPort: Iterable<string>): string {
  const sockets = [...hostsWithPort].map((h) => `ws://${h}`).join(' ');
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${sockets}`,
    "media-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
