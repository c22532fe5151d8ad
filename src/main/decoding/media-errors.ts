import { StenoError, type StenoErrorCode } from '../../core/errors';

/** Why a file cannot be transcribed; each has its own message and advice. */
export type MediaProblem =
  | 'missing'
  | 'directory'
  | 'unreadable'
  | 'empty'
  | 'unknown'
  | 'unsupported'
  | 'corrupt'
  | 'no-audio'
  | 'changed'
  | 'replaced';

const FORMATS = 'WAV, MP3, FLAC, Ogg Vorbis, and Opus in Ogg, WebM or Matroska (MKV)';

const PROBLEMS: Record<MediaProblem, { code: StenoErrorCode; what: string; action: string }> = {
  missing: {
    code: 'MEDIA_NOT_FOUND',
    what: 'does not exist',
    action: 'Check the path; if the file was moved, add it again from where it is now.',
  },
  directory: {
    code: 'MEDIA_NOT_FOUND',
    what: 'is a folder, not a file',
    action: 'Give the audio or video files inside it.',
  },
  unreadable: {
    code: 'MEDIA_NOT_FOUND',
    what: 'cannot be opened',
    action: 'Check that you may read it and that its drive is connected.',
  },
  empty: {
    code: 'MEDIA_CORRUPT',
    what: 'is empty (0 bytes)',
    action: 'The recording may not have been saved; look for the complete file.',
  },
  unknown: {
    code: 'MEDIA_UNSUPPORTED',
    what: 'is not an audio or video format Steno knows',
    action: `Steno reads ${FORMATS}; convert the file to one of them.`,
  },
  unsupported: {
    code: 'MEDIA_UNSUPPORTED',
    what: 'uses a format Steno cannot decode yet',
    action: `Steno reads ${FORMATS}; convert the file to one of them.`,
  },
  corrupt: {
    code: 'MEDIA_CORRUPT',
    what: 'is damaged',
    action: 'Try another copy of the file, or convert it again from the original.',
  },
  'no-audio': {
    code: 'MEDIA_CORRUPT',
    what: 'holds no audio',
    action: 'Check that this is the file with the sound in it.',
  },
  changed: {
    code: 'MEDIA_CORRUPT',
    what: 'changed or got shorter while Steno was reading it',
    action: 'Wait until the program writing it has finished, then add it again.',
  },
  replaced: {
    code: 'MEDIA_CORRUPT',
    what: 'was changed or replaced after it was added',
    action: 'Add it again to transcribe the file as it is now.',
  },
};

/** An error that names the file, says what is wrong with it and what to do. */
export function mediaError(
  file: string,
  problem: MediaProblem,
  cause?: unknown,
  detail?: string,
): StenoError {
  const p = PROBLEMS[problem];
  // The system's words help only where they say more than the problem does.
  const causeText =
    (problem === 'unreadable' || problem === 'corrupt') && cause instanceof Error
      ? cause.message
      : undefined;
  const why = detail ?? causeText;
  return new StenoError(p.code, `${file} ${p.what}${why ? ` (${why})` : ''}.`, p.action, { cause });
}
