/**
 * Errors that reach a person carry a stable code, a sentence saying what
 * happened, and what to do next.
 */
export const STENO_ERROR_CODES = [
  'DEVICE_NOT_FOUND',
  'DEVICE_OPEN_FAILED',
  'DEVICE_LOST',
  'NO_INPUT_DEVICE',
  'DISK_FULL',
  'DIR_UNWRITABLE',
  'DIR_VANISHED',
  'WRITE_FAILED',
  'INVALID_STATE',
  'INVALID_ARGUMENT',
  'NATIVE_UNAVAILABLE',
  'RECORDING_NOT_FOUND',
  /** A file is not a WAV Steno can read, or too damaged to repair. */
  'WAV_UNREADABLE',
  /** A file given to transcribe is missing, a directory, or cannot be opened. */
  'MEDIA_NOT_FOUND',
  /** A file given to transcribe is of a format or codec Steno does not read. */
  'MEDIA_UNSUPPORTED',
  /** A file given to transcribe is empty, cut short, damaged, or changed while read. */
  'MEDIA_CORRUPT',
  /** A file given to transcribe is larger than the size limit in the settings. */
  'MEDIA_TOO_LARGE',
  /** The jobs queue holds as many jobs as it may. */
  'QUEUE_FULL',
  /** There is no job with that id. */
  'JOB_NOT_FOUND',
  /** A model file is missing, unreadable or not the model it claims to be. */
  'MODEL_INVALID',
  /** The model-host process failed or could not be started. */
  'HOST_FAILED',
  /** A second recording was asked for while one is running. */
  'ALREADY_RECORDING',
  /** Pause, resume or stop was asked for with no recording running. */
  'NOT_RECORDING',
  /** A payload that crossed a process boundary is not what the API accepts. */
  'INVALID_PAYLOAD',
  /** A command the API does not have. */
  'UNKNOWN_COMMAND',
  /** A client speaks another version of the API. */
  'API_VERSION_MISMATCH',
  /** A request without the right token, from a foreign origin, or from an untrusted frame. */
  'UNAUTHORIZED',
  /** A client fell too far behind the event stream and was disconnected. */
  'CLIENT_TOO_SLOW',
  /** The settings file could not be read or written. */
  'SETTINGS_INVALID',
  /** A bug: something failed that has no more specific code. */
  'INTERNAL',
] as const;

export type StenoErrorCode = (typeof STENO_ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(STENO_ERROR_CODES);

export function isStenoErrorCode(code: unknown): code is StenoErrorCode {
  return typeof code === 'string' && KNOWN_CODES.has(code);
}

/** The shape an error has when it crosses a process boundary. */
export interface WireStenoError {
  code: StenoErrorCode;
  message: string;
  action: string;
}

export class StenoError extends Error {
  constructor(
    readonly code: StenoErrorCode,
    message: string,
    readonly action: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StenoError';
  }

  /** One line for a terminal or a notification. */
  toUserString(): string {
    return `${this.message} ${this.action} [${this.code}]`;
  }

  /** The wire shape, each text cut to what the API accepts (a long OS message must not make the event invalid). */
  toJSON(): WireStenoError {
    return {
      code: this.code,
      message: clip(this.message, MAX_ERROR_TEXT),
      action: clip(this.action, MAX_ERROR_TEXT),
    };
  }

  /** Rebuilds an error that crossed a boundary; an unknown code becomes INTERNAL. */
  static fromWire(e: { code: string; message: string; action: string }): StenoError {
    return new StenoError(
      isStenoErrorCode(e.code) ? e.code : 'INTERNAL',
      clip(e.message, MAX_ERROR_TEXT),
      clip(e.action, MAX_ERROR_TEXT),
    );
  }
}

/** Any thrown value as a StenoError a person can read (a bug becomes INTERNAL). */
export function toStenoError(e: unknown, doing: string): StenoError {
  if (isStenoError(e)) return e;
  return new StenoError(
    'INTERNAL',
    `Something went wrong while ${doing}: ${(e as Error)?.message ?? String(e)}.`,
    'Try again; if it happens again, report it with the log (steno --verbose).',
    { cause: e },
  );
}

/** Longest message or action an error carries across a boundary (the API's limit). */
export const MAX_ERROR_TEXT = 4000;

function clip(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

export function isStenoError(e: unknown): e is StenoError {
  return e instanceof StenoError;
}

/** Maps a Node file-system error on `path` to a StenoError a person can act on. */
export function fileSystemError(e: unknown, path: string, doing: string): StenoError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new StenoError(
        'DISK_FULL',
        `The disk is full while ${doing} (${path}).`,
        'Free some space or choose another recordings folder; audio recorded so far was kept.',
        { cause: e },
      );
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new StenoError(
        'DIR_UNWRITABLE',
        `Steno may not write to ${path} while ${doing}.`,
        'Choose a recordings folder you can write to, or fix its permissions.',
        { cause: e },
      );
    case 'ENOENT':
    case 'ENOTDIR':
      return new StenoError(
        'DIR_VANISHED',
        `The folder ${path} does not exist (or stopped existing) while ${doing}.`,
        'Check that the recordings folder exists and that its drive is still connected.',
        { cause: e },
      );
    default:
      return new StenoError(
        'WRITE_FAILED',
        `Writing failed while ${doing} (${path}): ${(e as Error)?.message ?? String(e)}.`,
        'Check the drive and try again; audio recorded so far was kept.',
        { cause: e },
      );
  }
}
