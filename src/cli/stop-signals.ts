import type { Terminal } from '../main/terminal';

export interface StopSignals {
  /** The first SIGINT or SIGTERM. */
  first: Promise<NodeJS.Signals>;
  dispose(): void;
}

/**
 * The first Ctrl-C (or SIGTERM) asks to stop; a second says it is still
 * stopping, since quitting mid-finalize would leave the recording unfinished;
 * a third quits at once through `forceExit`, the person having insisted.
 */
export function watchStopSignals(terminal: Terminal, forceExit: () => void): StopSignals {
  let received = 0;
  let resolveFirst: (signal: NodeJS.Signals) => void = () => {};
  const first = new Promise<NodeJS.Signals>((resolve) => (resolveFirst = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    received++;
    if (received === 1) return resolveFirst(signal);
    if (received === 2) {
      terminal.err('steno: still stopping, please wait (Ctrl-C once more quits at once)...\n');
      return;
    }
    terminal.err(
      'steno: quitting at once. A recording in progress may be left unfinished; ' +
        'Steno recovers it the next time it starts.\n',
    );
    forceExit();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    first,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
