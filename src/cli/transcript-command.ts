import fs from 'node:fs';
import path from 'node:path';
import { StenoError } from '../core/errors';
import { defaultRecordingsDir } from '../main/paths';
import { RecordingsStore } from '../main/recording/recordings-store';
import { recoverRecordings } from '../main/recording/recovery';
import { loadTranscript, renameSpeaker } from '../main/transcription/transcript-store';
import { printTranscript } from './live-transcript';

/** A recording given as an id (in --out or the default folder) or as a folder path. */
export function resolveRecordingFolder(ref: string, out: string | undefined): string {
  if (ref.includes(path.sep) || ref.startsWith('.')) {
    const folder = path.resolve(ref);
    if (fs.existsSync(path.join(folder, 'meta.json'))) return folder;
  } else {
    const store = new RecordingsStore(path.resolve(out ?? defaultRecordingsDir()));
    const folder = store.dirOf(ref);
    if (fs.existsSync(folder)) return folder;
  }
  throw new StenoError(
    'RECORDING_NOT_FOUND',
    `There is no recording "${ref}".`,
    'Run `steno list` for the recordings and their ids.',
  );
}

export async function runTranscript(
  positionals: string[],
  opts: { out?: string | boolean; json?: string | boolean },
): Promise<number> {
  const ref = positionals[0];
  if (!ref)
    throw new StenoError('INVALID_ARGUMENT', 'Which recording?', 'Usage: steno transcript <id>.');
  const out = typeof opts.out === 'string' ? opts.out : undefined;
  // A recording left by a crash gets its transcript log with it: recover first.
  await recoverRecordings(new RecordingsStore(path.resolve(out ?? defaultRecordingsDir())));
  const transcript = await loadTranscript(resolveRecordingFolder(ref, out));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ event: 'transcript', ...transcript }) + '\n');
  } else if (transcript.segments.length === 0) {
    process.stdout.write('This recording has no transcript.\n');
  } else {
    printTranscript(transcript);
  }
  return 0;
}

export async function runRenameSpeaker(
  positionals: string[],
  opts: { out?: string | boolean },
): Promise<number> {
  const [ref, number, ...nameParts] = positionals;
  const speaker = Number(number) - 1;
  if (!ref || !number || nameParts.length === 0 || !Number.isInteger(speaker)) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      'steno rename-speaker needs a recording, a speaker number and a name.',
      'For example: steno rename-speaker 20261123-195001-1a2b3c 2 "Ada Lovelace".',
    );
  }
  const folder = resolveRecordingFolder(ref, typeof opts.out === 'string' ? opts.out : undefined);
  await renameSpeaker(folder, speaker, nameParts.join(' '));
  process.stdout.write(`Speaker ${number} is now "${nameParts.join(' ').trim()}".\n`);
  return 0;
}
