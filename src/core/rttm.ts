/**
 * RTTM (NIST Rich Transcription Time Marked) speaker records, the exchange format
 * of diarization references and scoring tools:
 *
 *   SPEAKER <file> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>
 *
 * Fields are separated by whitespace; times are seconds. Only SPEAKER records
 * carry turns; other record types (SPKR-INFO, LEXEME, ...) are skipped, as are
 * blank lines and `;;` / `#` comment lines.
 */
import type { Turn } from './der';
import { StenoError } from './errors';

export interface RttmTurn extends Turn {
  /** The recording the turn belongs to (field 2). */
  file: string;
}

function parseError(line: number, problem: string): StenoError {
  return new StenoError(
    'INVALID_ARGUMENT',
    `Line ${line} of the RTTM file is not a valid SPEAKER record: ${problem}.`,
    'Fix or remove that line; each record reads SPEAKER <file> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>.',
  );
}

/**
 * Parses every SPEAKER record; throws a StenoError (INVALID_ARGUMENT) naming the
 * line of a malformed one. Output is sized by the input.
 */
export function parseRttm(text: string): RttmTurn[] {
  const turns: RttmTurn[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith(';;') || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    if (fields[0] !== 'SPEAKER') continue;
    if (fields.length < 8) {
      throw parseError(i + 1, `it has ${fields.length} fields, at least 8 are needed`);
    }
    const start = Number(fields[3]);
    const duration = Number(fields[4]);
    if (!Number.isFinite(start) || !Number.isFinite(duration) || duration < 0) {
      throw parseError(i + 1, `start "${fields[3]}" or duration "${fields[4]}" is not a time`);
    }
    turns.push({ file: fields[1]!, start, end: start + duration, speaker: fields[7]! });
  }
  return turns;
}

/** RTTM fields cannot contain whitespace: runs of it become `_`; empty becomes `<NA>`. */
function field(value: string): string {
  const v = value.trim().replace(/\s+/g, '_');
  return v === '' ? '<NA>' : v;
}

/**
 * One SPEAKER line per turn, times with millisecond precision, each ending in a
 * newline. The file field is `file` if given, else the turn's own `file` (as
 * parsed), else `audio`. Speaker and file names with whitespace are written with
 * `_` instead (RTTM has no quoting), so such names do not round-trip exactly.
 */
export function formatRttm(turns: readonly (Turn | RttmTurn)[], file?: string): string {
  let out = '';
  for (const t of turns) {
    const name = field(file ?? ('file' in t ? t.file : 'audio'));
    const start = t.start.toFixed(3);
    const duration = Math.max(0, t.end - t.start).toFixed(3);
    out += `SPEAKER ${name} 1 ${start} ${duration} <NA> <NA> ${field(t.speaker)} <NA> <NA>\n`;
  }
  return out;
}
