/**
 * Finds the file a URL path names inside the built renderer, and nothing
 * outside it: `..`, encoded separators, NUL bytes, dot-files and symbolic
 * links that lead out are all refused.
 */
import fs from 'node:fs';
import path from 'node:path';

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

export type StaticLookup =
  | { kind: 'file'; file: string; size: number; contentType: string; isHtml: boolean }
  | { kind: 'not-built' }
  | { kind: 'not-found' }
  | { kind: 'bad-path' };

/**
 * Resolves `pathname` (still percent-encoded, as in the request line) to a
 * regular file inside `root`. `/` is `index.html`; a missing renderer build
 * answers `not-built` for it, so the page can say how to build.
 */
export async function lookupStatic(root: string, pathname: string): Promise<StaticLookup> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { kind: 'bad-path' };
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) {
    return { kind: 'bad-path' };
  }
  const segments = decoded.split('/').filter((s) => s.length > 0);
  // `..` and `.` are refused rather than resolved: a client that sends them is not a browser
  // following this app's own links. Dot-files are never part of a build.
  if (segments.some((s) => s.startsWith('.'))) return { kind: 'bad-path' };
  const isIndex = segments.length === 0;
  const relative = isIndex ? 'index.html' : segments.join('/');

  let realRoot: string;
  try {
    realRoot = await fs.promises.realpath(root);
  } catch {
    return isIndex ? { kind: 'not-built' } : { kind: 'not-found' };
  }
  const candidate = path.resolve(realRoot, relative);
  if (!isInside(realRoot, candidate)) return { kind: 'bad-path' };

  let real: string;
  let stat: fs.Stats;
  try {
    real = await fs.promises.realpath(candidate);
    stat = await fs.promises.stat(real);
  } catch {
    return isIndex ? { kind: 'not-built' } : { kind: 'not-found' };
  }
  // A link inside the build that points out of it is refused like `..`.
  if (!isInside(realRoot, real)) return { kind: 'bad-path' };
  if (!stat.isFile()) return { kind: 'not-found' };
  const ext = path.extname(real).toLowerCase();
  return {
    kind: 'file',
    file: real,
    size: stat.size,
    contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
    isHtml: ext === '.html',
  };
}

function isInside(root: string, candidate: string): boolean {
  return candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** The page `/` shows when the renderer was never built. */
export const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Steno is not built</title></head>
<body>
<h1>Steno's window is not built yet</h1>
<p>This server is running, but the files of its window (out/renderer) do not exist.</p>
<p>Run <code>npm run build</code> in Steno's folder, then reload this page.</p>
</body></html>
`;
