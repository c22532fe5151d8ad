import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isStenoError, StenoError } from '../core/errors';
import { captureNativeOutput, type NativeOutputCapture } from '../main/native-output';
import { defaultDataDir } from '../main/paths';
import { processTerminal, type Terminal } from '../main/terminal';
import { runDevices } from './devices-command';
import { runRecord } from './record-command';
import { runList } from './list-command';
import { runServe, SERVE_OPTIONS } from './serve-command';
import { runRenameSpeaker, runTranscript } from './transcript-command';

const USAGE = `steno: record meetings from the microphone to crash-safe WAV files

Usage:
  steno devices [--json]                 list audio input devices and their ids
  steno record [--device ID] [--seconds N] [--out DIR] [--json]
               [--whisper-model FILE] [--embedding-model FILE] [--language CODE]
               [--threads N] [--max-tokens N] [--speakers auto|1-10]
               [--no-transcript] [--no-partials]
                                         record until Ctrl-C (or N seconds),
                                         printing the live transcript
  steno list [--out DIR] [--json]        list recordings (recovers crashed ones)
  steno transcript <id> [--out DIR] [--json]
                                         print a recording's transcript
  steno rename-speaker <id> <N> <name>   name speaker N of a recording
  steno serve [--port N] [--host 127.0.0.1] [--allow-remote] [--out DIR] [--json]
                                         serve the window and the API to a
                                         browser on this machine

Every command takes --verbose: the audio libraries' own diagnostics are shown
on stderr instead of being kept in <data dir>/logs/native.log.
With --json, \`record\` prints the API's events and the other commands the
API's results, one JSON object per line.

Recordings live in DIR/<id>/audio.wav with meta.json beside it. DIR defaults to
$STENO_HOME/recordings, else ~/.local/share/steno/recordings.
`;

const COMMON = { verbose: { type: 'boolean' } } as const;

async function main(argv: string[], terminal: Terminal): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'devices':
      return runDevices(parse(rest, { json: { type: 'boolean' } }).values, terminal);
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
          speakers: { type: 'string' },
        }).values,
        terminal,
      );
    case 'transcript': {
      const p = parse(rest, { out: { type: 'string' }, json: { type: 'boolean' } });
      return runTranscript(p.positionals, p.values, terminal);
    }
    case 'rename-speaker': {
      const p = parse(rest, { out: { type: 'string' } });
      return runRenameSpeaker(p.positionals, p.values, terminal);
    }
    case 'list':
      return runList(
        parse(rest, { out: { type: 'string' }, json: { type: 'boolean' } }).values,
        terminal,
      );
    case 'serve':
      return runServe(parse(rest, SERVE_OPTIONS).values, terminal);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      terminal.out(USAGE);
      return command === undefined ? 2 : 0;
    default:
      terminal.err(`steno: unknown command "${command}"\n\n${USAGE}`);
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
      options: { ...options, ...COMMON },
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
 * Native libraries (ALSA, PortAudio, naudiodon, whisper.cpp) write to fds 1
 * and 2 themselves. Before any of them loads, those fds are pointed at a
 * bounded log (or, with --verbose, at stderr), and the CLI writes through the
 * Terminal only: stdout carries Steno's own lines and nothing else.
 */
function startCapture(argv: string[]): NativeOutputCapture {
  return captureNativeOutput({
    logPath: path.join(defaultDataDir(), 'logs', 'native.log'),
    verbose: argv.includes('--verbose'),
  });
}

/**
 * Exits explicitly once the command is done: every file is closed and synced by
 * then, but a sound server that stopped delivering audio can leave PortAudio's
 * stop call blocked in a native thread forever, which would keep the process
 * alive. The Terminal's writes are synchronous, so nothing is pending.
 */
function exit(capture: NativeOutputCapture, code: number): void {
  capture.dispose();
  process.exit(code);
}

const argv = process.argv.slice(2);
const capture = ((): NativeOutputCapture | null => {
  try {
    return startCapture(argv);
  } catch (e) {
    process.stderr.write(`steno: ${(e as Error).message}\n`);
    return null;
  }
})();
const terminal = capture?.terminal ?? processTerminal();

main(argv, terminal).then(
  (code) => (capture ? exit(capture, code) : process.exit(code)),
  (e: unknown) => {
    if (isStenoError(e)) {
      terminal.err(`steno: ${e.toUserString()}\n`);
    } else {
      terminal.err(`steno: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    }
    if (capture) exit(capture, 1);
    else process.exit(1);
  },
);
