/** `steno transcript` and `steno rename-speaker`: arguments in, the library service's answers out. */
import fs from 'node:fs';
import path from 'node:path';
import { StenoError } from '../core/errors';
import { formatSegmentLine } from '../core/transcript';
import type { StenoService } from '../main/services/steno-service';
import type { Terminal } from '../main/terminal';
import { call, forEachTranscriptPage } from '../main/services/service-client';
import { openServiceForCli } from './open-service';

/**
 * A recording given as an id (in --out or the default folder) or as the path
 * of its folder: the folder's parent is then the recordings directory.
 */
export function resolveRecording(
  ref: string,
  out: string | undefined,
): { out: string | undefined; id: string } {
  if (ref.includes(path.sep) || ref.startsWith('.')) {
    const folder = path.resolve(ref);
    if (fs.existsSync(path.join(folder, 'meta.json'))) {
      return { out: path.dirname(folder), id: path.basename(folder) };
    }
    throw new StenoError(
      'RECORDING_NOT_FOUND',
      `There is no recording in ${folder}.`,
      'Give a recording folder (it holds meta.json) or an id from `steno list`.',
    );
  }
  return { out, id: ref };
}

/** Prints a whole transcript page by page: memory does not grow with the meeting's length. */
export function printTranscript(
  service: StenoService,
  id: string,
  terminal: Terminal,
): Promise<number> {
  return forEachTranscriptPage(service, id, (page) => {
    const names = { speakerNames: page.speakerNames as unknown as Record<number, string> };
    for (const s of page.segments) terminal.out(formatSegmentLine(names, s) + '\n');
  });
}

export async function runTranscript(
  positionals: string[],
  opts: { out?: string | boolean; json?: string | boolean },
  terminal: Terminal,
): Promise<number> {
  const ref = positionals[0];
  if (!ref) {
    throw new StenoError('INVALID_ARGUMENT', 'Which recording?', 'Usage: steno transcript <id>.');
  }
  const target = resolveRecording(ref, typeof opts.out === 'string' ? opts.out : undefined);
  // Opening the service recovers a recording left by a crash, transcript log included.
  const service = await openServiceForCli(target.out, terminal);
  try {
    if (opts.json) {
      // One line per page: the API's getTranscript result, as any client gets it.
      await forEachTranscriptPage(service, target.id, (page) =>
        terminal.out(JSON.stringify(page) + '\n'),
      );
      return 0;
    }
    if ((await printTranscript(service, target.id, terminal)) === 0) {
      terminal.out('This recording has no transcript.\n');
    }
    return 0;
  } finally {
    service.dispose();
  }
}

export async function runRenameSpeaker(
  positionals: string[],
  opts: { out?: string | boolean },
  terminal: Terminal,
): Promise<number> {
  const [ref, number, ...nameParts] = positionals;
  const speaker = Number(number) - 1;
  if (!ref || !number || nameParts.length === 0 || !Number.isInteger(speaker) || speaker < 0) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      'steno rename-speaker needs a recording, a speaker number and a name.',
      'For example: steno rename-speaker 20261123-195001-1a2b3c 2 "Ada Lovelace".',
    );
  }
  const target = resolveRecording(ref, typeof opts.out === 'string' ? opts.out : undefined);
  const service = await openServiceForCli(target.out, terminal);
  try {
    const renamed = await call(service, 'renameSpeaker', {
      id: target.id,
      speaker,
      name: nameParts.join(' '),
    });
    terminal.out(`Speaker ${number} is now "${renamed.name}".\n`);
    return 0;
  } finally {
    service.dispose();
  }
}
