/**
 * Errors that reach a person carry a stable code, a sentence saying what
 * happened, and what to do next.
 */
export type StenoErrorCode =
  | 'DEVICE_NOT_FOUND'
  | 'DEVICE_OPEN_FAILED'
  | 'DEVICE_LOST'
  | 'NO_INPUT_DEVICE'
  | 'DISK_FULL'
  | 'DIR_UNWRITABLE'
  | 'DIR_VANISHED'
  | 'WRITE_FAILED'
  | 'INVALID_STATE'
  | 'INVALID_ARGUMENT'
  | 'NATIVE_UNAVAILABLE'
  | 'RECORDING_NOT_FOUND'
  /** A file is not a WAV Steno can read, or too damaged to repair. */
  | 'WAV_UNREADABLE'
  /** A model file is missing, unreadable or not the model it claims to be. */
  | 'MODEL_INVALID'
  /** The model-host process failed or could not be started. */
  | 'HOST_FAILED';

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

  toJSON(): { code: StenoErrorCode; message: string; action: string } {
    return { code: this.code, message: this.message, action: this.action };
  }
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
