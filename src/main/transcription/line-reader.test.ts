import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { readLines } from './line-reader';

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-lines-');
});
afterEach(() => removeTempDir(dir));

async function collect(file: string, endByte: number, chunkBytes: number): Promise<string[]> {
  const out: string[] = [];
  for await (const line of readLines(file, { endByte, chunkBytes })) out.push(line);
  return out;
}

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

describe('readLines', () => {
  const lines = ['first', '', 'naïve café ☕ 日本語', 'x'.repeat(50), 'last, no newline'];
  const text = lines.join('\n');

  it.each([1, 3, 7, 64, 65_536])(
    'gives every line whole with a %i-byte buffer, characters and long lines intact',
    async (chunkBytes) => {
      const file = path.join(dir, 'f.jsonl');
      fs.writeFileSync(file, text);
      expect(await collect(file, Buffer.byteLength(text), chunkBytes)).toEqual(lines);
    },
  );

  it('reads nothing past endByte: a line cut there comes back cut', async () => {
    const file = path.join(dir, 'f.jsonl');
    fs.writeFileSync(file, 'one\ntwo\nthree\n');
    expect(await collect(file, 6, 4)).toEqual(['one', 'tw']);
    expect(await collect(file, 8, 4)).toEqual(['one', 'two']);
  });

  it('stops at the end of a file shorter than endByte', async () => {
    const file = path.join(dir, 'f.jsonl');
    fs.writeFileSync(file, 'one\ntwo\n');
    expect(await collect(file, 1000, 3)).toEqual(['one', 'two']);
  });

  it('closes the file when the loop ends early', async () => {
    const file = path.join(dir, 'f.jsonl');
    fs.writeFileSync(file, 'a\nb\nc\n');
    const fdsBefore = openFds();
    for await (const line of readLines(file, { endByte: 6 })) {
      expect(line).toBe('a');
      expect(openFds()).toBe(fdsBefore + 1);
      break;
    }
    expect(openFds()).toBe(fdsBefore);
  });
});
