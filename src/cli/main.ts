import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isStenoError, StenoError } from '../core/errors';
import { runDevices } from './devices-command';
import { runRecord } from './record-command';
import { runList } from './list-command';
import { runRenameSpeaker, runTranscript } from './transcript-command';

const USAGE = `steno: record meetings from the microphone to crash-safe WAV files

Usage:
  steno devices [--json]                 list audio input devices and their ids
  steno record [--device ID] [--seconds N] [--out DIR] [--json]
               [--whisper-model FILE] [--embedding-model FILE] [--language CODE]
               [--threads N] [--max-tokens N] [--no-transcript] [--no-partials]
                                         record until Ctrl-C (or N seconds),
                                         printing the live transcript
  steno list [--out DIR] [--json]        list recordings (recovers crashed ones)
  steno transcript <id> [--out DIR] [--json]
                                         print a recording's transcript
  steno rename-speaker <id> <N> <name>   name speaker N of a recording

Recordings live in DIR/<id>/audio.wav with meta.json beside it. DIR defaults to
$STENO_HOME/recordings, else ~/.local/share/steno/recordings.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'devices':
      return runDevices(parse(rest, { json: { type: 'boolean' } }).values);
    case 'record':
      return runRecord(
        parse(rest, {
          device: { type: 'string' },
          seconds: { type: 'string' },
          out: { type: 'string' },
          json: { type: 'boolean' },
          transcript: { type: 'boolean' },
          'no-transcript': { type: 'boolean' },
          partials: { type: 'boolean' },
          'no-partials': { type: 'boolean' },
          'whisper-model': { type: 'string' },
          'embedding-model': { type: 'string' },
          language: { type: 'string' },
          threads: { type: 'string' },
          'max-tokens': { type: 'string' },
        }).values,
      );
    case 'transcript': {
      const p = parse(rest, { out: { type: 'string' }, json: { type: 'boolean' } });
      return runTranscript(p.positionals, p.values);
    }
    case 'rename-speaker': {
      const p = parse(rest, { out: { type: 'string' } });
      return runRenameSpeaker(p.positionals, p.values);
    }
    case 'list':
      return runList(parse(rest, { out: { type: 'string' }, json: { type: 'boolean' } }).values);
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

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function parse(args: string[], options: Options): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
    });
    const out = values as Record<string, string | boolean | undefined>;
    // --no-x turns x off.
    for (const key of Object.keys(out)) {
      if (key.startsWith('no-') && out[key] === true) out[key.slice(3)] = false;
    }
    return { values: out, positionals };
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
