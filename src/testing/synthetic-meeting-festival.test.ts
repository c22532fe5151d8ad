/**
 * Without Festival, or without one of its voices, the Festival meeting fails
 * with one sentence naming the Debian package to install, instead of a stack
 * trace or (text2wave exits 0 when a voice is missing) a meeting with a hole.
 * The meeting's own properties are checked with the others in
 * synthetic-meeting-hard.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureFestivalMeeting, FESTIVAL_VOICE_PACKAGES } from './synthetic-meeting';
import { makeTempDir, removeTempDir } from './tmp';

let bin: string;
let cache: string;
let savedPath: string | undefined;

beforeEach(() => {
  bin = makeTempDir('steno-festival-bin-');
  cache = makeTempDir('steno-festival-cache-');
  savedPath = process.env.PATH;
  // Only the programs in `bin` can be found: the machine's own text2wave is not.
  process.env.PATH = bin;
});

afterEach(() => {
  process.env.PATH = savedPath;
  removeTempDir(bin);
  removeTempDir(cache);
});

/** One sentence: no full stop before the last character, no line break. */
function expectOneSentence(message: string): void {
  expect(message).not.toContain('\n');
  expect(message.trimEnd().endsWith('.')).toBe(true);
  expect(message.slice(0, -1)).not.toMatch(/\.\s+[A-Z]/);
}

async function failure(): Promise<string> {
  const error = await ensureFestivalMeeting({ dir: cache }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return (error as Error).message;
}

describe('the Festival meeting on a machine without Festival', () => {
  it('names the packages to install when text2wave is missing', async () => {
    const message = await failure();
    expect(message).toContain('text2wave is not installed');
    expect(message).toContain(
      `apt-get install festival ${Object.values(FESTIVAL_VOICE_PACKAGES).join(' ')}`,
    );
    expectOneSentence(message);
  });

  it('names the voice package when text2wave is there but the voice is not', async () => {
    // What text2wave 2.5 does when the voice's package is missing: a SIOD error on
    // stderr for the undefined voice function, no file written, exit status 0.
    const fake = path.join(bin, 'text2wave');
    fs.writeFileSync(
      fake,
      '#!/bin/sh\n' +
        // PATH holds only this folder: shell built-ins, no tr or sed.
        'voice=${2#(}; voice=${voice%)}\n' +
        'echo "SIOD ERROR: unbound variable : $voice" >&2\n' +
        'exit 0\n',
      { mode: 0o755 },
    );
    const message = await failure();
    // The meeting's first turn is spoken by the HTS voice.
    expect(message).toContain('the Festival voice cmu_us_slt_arctic_hts is not installed');
    expect(message).toContain('apt-get install festvox-us-slt-hts');
    expectOneSentence(message);
    // Nothing half-made is left as a meeting.
    expect(fs.readdirSync(cache)).toEqual([]);
  });
});
