/**
 * `steno serve`: the services without a window, offered to a browser over
 * HTTP and one WebSocket on this machine. Parses the arguments, starts the
 * service and the server, prints the address, and stops both on Ctrl-C.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParseArgsConfig } from 'node:util';
import { StenoError } from '../core/errors';
import { decideListenHost } from '../main/serve/security';
import { StenoServer } from '../main/serve/steno-server';
import { StenoService } from '../main/services/steno-service';
import { processTerminal, type Terminal } from '../main/terminal';

/** The options `steno serve` takes, for parseArgs. */
export const SERVE_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  out: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export const SERVE_USAGE = `  steno serve [--port N] [--host 127.0.0.1] [--allow-remote] [--out DIR] [--json]
                                         serve the window and the API to a browser on
                                         this machine, until Ctrl-C
`;

/** The built renderer of this checkout: <repo>/out/renderer. */
export function defaultRendererDir(): string {
  return path.resolve(fileURLToPath(new URL('../../out/renderer', import.meta.url)));
}

export interface ServeArguments {
  port: number;
  host: string;
  allowRemote: boolean;
  recordingsDir: string | undefined;
  json: boolean;
}

export function parseServeArguments(
  values: Record<string, string | boolean | undefined>,
): ServeArguments {
  return {
    port: values.port === undefined ? 0 : parsePort(String(values.port)),
    host: typeof values.host === 'string' ? values.host : '127.0.0.1',
    allowRemote: values['allow-remote'] === true,
    recordingsDir: typeof values.out === 'string' ? path.resolve(values.out) : undefined,
    json: values.json === true,
  };
}

export async function runServe(
  values: Record<string, string | boolean | undefined>,
  terminal: Terminal = processTerminal(),
): Promise<number> {
  const args = parseServeArguments(values);
  // Refused before anything starts: a typo must not open the microphone to the network.
  const decision = decideListenHost(args.host, args.allowRemote);
  if (decision.warning) terminal.err(decision.warning + '\n');

  const service = await StenoService.create(
    args.recordingsDir ? { recordingsDir: args.recordingsDir } : {},
  );
  let server: StenoServer;
  try {
    server = await StenoServer.start({
      backend: service,
      rendererDir: defaultRendererDir(),
      host: decision.host,
      port: args.port,
      allowRemote: args.allowRemote,
    });
  } catch (e) {
    await service.shutdown();
    service.dispose();
    throw e;
  }

  let stopping = false;
  const disconnects = server.onDidDisconnectClient(({ bye }) => {
    if (bye && !stopping && !args.json) {
      terminal.err(`steno: a window was disconnected: ${bye.message}\n`);
    }
  });

  if (args.json) terminal.out(JSON.stringify({ type: 'serving', url: server.url }) + '\n');
  else {
    terminal.out(`Steno is serving at ${server.url}\n`);
    terminal.err('Open that address in a browser on this machine. Press Ctrl-C to stop.\n');
  }

  const signal = await waitForStopSignal(terminal);
  stopping = true;
  if (!args.json) terminal.err(`\nStopping (${signal})...\n`);
  // The recording in progress is finished first, so its last events reach the windows.
  await service.shutdown();
  await server.close();
  disconnects.dispose();
  server.dispose();
  service.dispose();
  if (args.json) terminal.out(JSON.stringify({ type: 'stopped', signal }) + '\n');
  else terminal.err('Stopped.\n');
  return 0;
}

function waitForStopSignal(terminal: Terminal): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // A second Ctrl-C while stopping would otherwise kill the process mid-finalize.
      const stillStopping = () => terminal.err('steno: still stopping, please wait...\n');
      process.on('SIGINT', stillStopping);
      process.on('SIGTERM', stillStopping);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `--port needs a port number from 0 to 65535, got "${text}".`,
      'Leave --port out to get a free port.',
    );
  }
  return Number(text);
}
