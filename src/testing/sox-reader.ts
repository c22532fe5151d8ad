import { execFileSync, spawnSync } from 'node:child_process';

/**
 * sox as an independent reader of WAV/RF64 files: what programs other than
 * Steno's own parser make of a recording.
 *
 * Two readers: sox's own WAV handler ('sox'), and libsndfile through sox's
 * `sndfile` handler ('sndfile'). sox's handler does not read RF64's ds64 chunk:
 * it takes the data size 0xFFFFFFFF as unknown and reads to the end of the file
 * to count, minutes for a 4 GiB file. libsndfile reads ds64 and seeks, so it
 * is the reader for files past 4 GiB.
 */
export type SoxReader = 'sox' | 'sndfile';

/** Fails with one sentence when sox or its libsndfile handler is missing. */
export function requireSox(): void {
  const probe = spawnSync('sox', ['-h'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error('sox is not installed: install it (Debian/Ubuntu: `apt-get install sox`).');
  }
  if (!/\bsndfile\b/.test(probe.stdout)) {
    throw new Error(
      'sox has no libsndfile handler: install it (Debian/Ubuntu: `apt-get install libsox-fmt-all`).',
    );
  }
}

export interface SoxInfo {
  sampleRate: number;
  channels: number;
  /** Samples per channel, as the reader finds them. */
  frames: number;
}

export function soxInfo(file: string, reader: SoxReader = 'sox'): SoxInfo {
  if (reader === 'sox') {
    const soxi = (flag: string) =>
      Number(execFileSync('soxi', [flag, file], { encoding: 'utf8' }).trim());
    return { sampleRate: soxi('-r'), channels: soxi('-c'), frames: soxi('-s') };
  }
  // sox describes its input on stderr at -V3; reading one sample keeps it cheap.
  const run = spawnSync('sox', ['-V3', '-t', 'sndfile', file, '-n', 'trim', '0', '1s'], {
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`sox (sndfile) could not read ${file}: ${run.stderr}`);
  const field = (name: string, pattern: RegExp): number | null => {
    const line = run.stderr.split('\n').find((l) => l.startsWith(name));
    const m = line?.match(pattern);
    return m ? Number(m[1]) : null;
  };
  const required = (name: string, value: number | null): number => {
    if (value === null)
      throw new Error(`sox (sndfile) printed no ${name} for ${file}: ${run.stderr}`);
    return value;
  };
  return {
    sampleRate: required('Sample Rate', field('Sample Rate', /:\s*(\d+)/)),
    channels: required('Channels', field('Channels', /:\s*(\d+)/)),
    // sox prints no Duration line for a file of no samples (a length of 0 means unknown to it).
    frames: field('Duration', /=\s*(\d+) samples/) ?? 0,
  };
}

/**
 * The samples the reader decodes, as s16le bytes, without dither; `fromFrame`
 * skips that many first (sox's `trim`, which seeks when the reader can).
 */
export function soxRawSamples(file: string, fromFrame = 0, reader: SoxReader = 'sox'): Buffer {
  const input = reader === 'sndfile' ? ['-t', 'sndfile', file] : [file];
  const effects = fromFrame > 0 ? ['trim', `${fromFrame}s`] : [];
  return execFileSync(
    'sox',
    ['-D', ...input, '-t', 'raw', '-e', 'signed', '-b', '16', '-L', '-', ...effects],
    { maxBuffer: 1 << 30 },
  );
}
