import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isStenoError, StenoError } from '../core/errors';
import { runDevices } from './devices-command';
import { runRecord } from './record-command';
import { runList } from './list-command';

const USAGE = `steno: record meetings from the microphone to crash-safe WAV files

Usage:
  steno devices [--json]                 list audio input devices and their ids
  steno record [--device ID] [--seconds N] [--out DIR] [--json]
                                         record until Ctrl-C (or N seconds)
  steno list [--out DIR] [--json]        list recordings (recovers crashed ones)

Recordings live in DIR/<id>/audio.wav with meta.json beside it. DIR defaults to
$STENO_HOME/recordings, else ~/.local/share/steno/recordings.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'devices':
      return runDevices(parse(rest, { json: { type: 'boolean' } }));
    case 'record':
      return runRecord(
        parse(rest, {
          device: { type: 'string' },
          seconds: { type: 'string' },
          out: { type: 'string' },
          json: { type: 'boolean' },
        }),
      );
    case 'list':
      return runList(parse(rest, { out: { type: 'string' }, json: { type: 'boolean' } }));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`steno: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

function parse(args: string[], options: Options): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      (e as Error).message + '.',
      'Run `steno --help` for usage.',
    );
  }
}

/**
 * Exits explicitly once the command is done: every file is closed and synced by
 * then, but a sound server that stopped delivering audio can leave PortAudio's
 * stop call blocked in a native thread forever, which would keep the process
 * alive. Output is flushed first.
 */
function exit(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(exit, (e: unknown) => {
  if (isStenoError(e)) {
    process.stderr.write(`steno: ${e.toUserString()}\n`);
  } else {
    process.stderr.write(`steno: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  exit(1);
});
