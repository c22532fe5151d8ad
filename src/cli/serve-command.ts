/**
 * `steno serve`: the services without a window, offered to a browser over
 * HTTP and one WebSocket on this machine. Parses the arguments, starts the
 * service and the server, prints the address, and stops both on Ctrl-C.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParseArgsConfig } from 'node:util';
import type { StenoEvent } from '../core/api/events';
import type { ApiError } from '../core/api/types';
import { StenoError } from '../core/errors';
import { decideListenHost } from '../main/serve/security';
import { StenoServer } from '../main/serve/steno-server';
import { openServiceForCli } from './open-service';
import { watchStopSignals } from './stop-signals';
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
  /** How a third Ctrl-C ends the process at once (tests pass their own). */
  exitNow: (code: number) => void = (code) => process.exit(code),
): Promise<number> {
  const args = parseServeArguments(values);
  // Refused before anything starts: a typo must not open the microphone to the network.
  const decision = decideListenHost(args.host, args.allowRemote);
  if (decision.warning) terminal.err(decision.warning + '\n');

  const service = await openServiceForCli(args.recordingsDir, terminal);
  // It stays up: file jobs left by a quit or a crash continue.
  service.jobs.start();
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
  // --json: the API's own events, one per line.
  const printEvent = (event: StenoEvent) => terminal.out(JSON.stringify(event) + '\n');

  if (args.json) printEvent({ type: 'server.listening', url: server.url });
  else {
    terminal.out(`Steno is serving at ${server.url}\n`);
    terminal.err('Open that address in a browser on this machine. Press Ctrl-C to stop.\n');
  }

  const signals = watchStopSignals(terminal, () => {
    if (args.json) printEvent({ type: 'server.stopped', reason: 'forced' });
    exitNow(130);
  });
  const signal = await signals.first;
  stopping = true;
  // Nothing new from here on, before the recording is finished: no window may start another.
  server.stopAccepting(stoppingError());
  if (!args.json) terminal.err(`\nStopping (${signal})...\n`);
  try {
    // The recording in progress is finished first, so its last events reach the windows.
    await service.shutdown();
    await server.close();
  } finally {
    disconnects.dispose();
    server.dispose();
    service.dispose();
    signals.dispose();
  }
  if (args.json) printEvent({ type: 'server.stopped', reason: signal });
  else terminal.err('Stopped.\n');
  return 0;
}

/** The reply to every call that arrives once stopping has begun. */
function stoppingError(): ApiError {
  return {
    code: 'INVALID_STATE',
    message: 'Steno is stopping, so it takes no more commands.',
    action: 'Start `steno serve` again once it has stopped, then open the new address it prints.',
  };
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
