/**
 * One place for errors that have nowhere else to go: a listener that threw
 * inside `Emitter.fire`, a callback of a timer. The code that fired never sees
 * them (an exception in one listener must not break the recording that fired
 * the event, nor the other listeners), but they are never swallowed: the
 * default handler prints them, tests install one that fails the test.
 */
export type UnexpectedErrorHandler = (error: unknown) => void;

const printToConsole: UnexpectedErrorHandler = (error) => {
  console.error('steno: unexpected error:', error);
};

let handler: UnexpectedErrorHandler = printToConsole;

/** Installs `h` (or restores the default with null); returns the previous handler. */
export function setUnexpectedErrorHandler(
  h: UnexpectedErrorHandler | null,
): UnexpectedErrorHandler {
  const previous = handler;
  handler = h ?? printToConsole;
  return previous;
}

export function onUnexpectedError(error: unknown): void {
  try {
    handler(error);
  } catch {
    // A broken handler must not turn one error into two.
  }
}
