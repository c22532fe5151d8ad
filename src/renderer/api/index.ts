/**
 * The one client the renderer talks to, whichever transport carries it: the
 * preload bridge when the page runs in Steno's window, else a WebSocket to
 * the `steno serve` that served the page (a browser, the UI tests).
 */
import type { StenoClient } from '../../core/api/client';
import { preloadClient } from './preload-transport';
import { createWebSocketClient } from './websocket-transport';

/** The WebSocket endpoint of the server that served this page, with its token. */
export function webSocketUrl(location: Pick<Location, 'protocol' | 'host'>, token: string): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/api?token=${encodeURIComponent(token)}`;
}

export function connectClient(): StenoClient {
  if (window.steno) return preloadClient(window.steno);
  // `steno serve` opens the page as http://127.0.0.1:<port>/?token=<token>.
  const token = new URLSearchParams(window.location.search).get('token') ?? '';
  return createWebSocketClient({ url: webSocketUrl(window.location, token) });
}
