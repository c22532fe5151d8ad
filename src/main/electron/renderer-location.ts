import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Where the renderer comes from, and the one test every navigation and IPC
 * sender is held to: "is this URL our renderer?".
 *
 * - Development (`electron-vite dev`): the Vite dev server on loopback, named by
 *   `ELECTRON_RENDERER_URL`. Trusted only when the app is not packaged, so an
 *   environment variable can never point a shipped app at remote content.
 * - Production: `out/renderer/index.html` inside the app, loaded as a file.
 */
export type RendererLocation =
  | { readonly kind: 'dev-server'; readonly url: URL }
  | { readonly kind: 'file'; readonly path: string; readonly url: URL };

export function resolveRendererLocation(options: {
  appPath: string;
  isPackaged: boolean;
  devServerUrl: string | undefined;
}): RendererLocation {
  const dev = options.isPackaged ? undefined : options.devServerUrl;
  if (dev) {
    const url = new URL(dev);
    if (url.protocol !== 'http:' || !isLoopback(url.hostname)) {
      throw new Error(`ELECTRON_RENDERER_URL must be an http URL on loopback, got ${dev}`);
    }
    return { kind: 'dev-server', url };
  }
  const path = join(options.appPath, 'out', 'renderer', 'index.html');
  return { kind: 'file', path, url: pathToFileURL(path) };
}

/** True when `candidate` is a page of our renderer (query and hash ignored). */
export function isRendererUrl(location: RendererLocation, candidate: string): boolean {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return false;
  }
  if (location.kind === 'dev-server') return url.origin === location.url.origin;
  // Every file:// URL shares one opaque origin, so compare the exact document.
  return url.protocol === 'file:' && url.pathname === location.url.pathname;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}
