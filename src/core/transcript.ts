/** A transcript: final segments with speaker labels, and the speakers' names. */
export interface TranscriptSegment {
  /** The utterance's first 16 kHz sample: unique within a recording. */
  id: number;
  startS: number;
  endS: number;
  text: string;
  /** Speaker index (0 = the first to speak). */
  speaker: number;
  /**
   * Two people talk at once somewhere in the segment (found at the
   * re-clustering, src/core/overlap.ts); `speaker` is the dominant one.
   * Absent when not.
   */
  overlap?: true;
}

/** How many people speak in a recording or file: 'auto' estimates it, or 1 to MAX_SPEAKER_COUNT. */
export type SpeakerCount = 'auto' | number;
/** The most speakers a person can name for a recording (other tools offer about as many). */
export const MAX_SPEAKER_COUNT = 10;

export interface Transcript {
  segments: TranscriptSegment[];
  /** Names given to speakers; unnamed ones are "Speaker N". */
  speakerNames: Record<number, string>;
}

export function speakerName(t: Pick<Transcript, 'speakerNames'>, speaker: number): string {
  return t.speakerNames[speaker] ?? `Speaker ${speaker + 1}`;
}

/**
 * `[00:01:02.3 - 00:01:05.0] Speaker 1: text`. A turn in which Whisper placed
 * no words (they went to the turns beside it) shows "…": someone spoke there.
 * Overlapped speech is said after the speaker: `Speaker 1 (overlap): text`.
 */
export function formatSegmentLine(
  t: Pick<Transcript, 'speakerNames'>,
  s: TranscriptSegment,
): string {
  const who = speakerName(t, s.speaker) + (s.overlap ? ' (overlap)' : '');
  return `[${formatClock(s.startS)} - ${formatClock(s.endS)}] ${who}: ${s.text || '…'}`;
}

export function formatClock(seconds: number): string {
  const tenths = Math.max(0, Math.round(seconds * 10));
  const h = Math.floor(tenths / 36000);
  const m = Math.floor((tenths % 36000) / 600);
  const s = (tenths % 600) / 10;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${s.toFixed(1).padStart(4, '0')}`;
}
