import fs from 'node:fs';
import path from 'node:path';
import type { ApiBackend } from '../core/api/backend';
import { StenoServer } from '../main/serve/steno-server';
import { makeTempDir, removeTempDir } from './tmp';

/** A `steno serve` server over `backend`, serving an empty renderer folder; `close` ends it and removes the folder. */
export async function startTestServer(
  backend: ApiBackend,
  prefix = 'steno-serve-',
): Promise<{ server: StenoServer; close(): Promise<void> }> {
  const dir = makeTempDir(prefix);
  const rendererDir = path.join(dir, 'renderer');
  fs.mkdirSync(rendererDir);
  const server = await StenoServer.start({ backend, rendererDir });
  return {
    server,
    async close() {
      await server.close();
      server.dispose();
      removeTempDir(dir);
    },
  };
}
