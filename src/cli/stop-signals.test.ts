import { afterEach, expect, it } from 'vitest';
import type { Terminal } from '../main/terminal';
import { watchStopSignals, type StopSignals } from './stop-signals';

let signals: StopSignals | null = null;

afterEach(() => {
  signals?.dispose();
  signals = null;
});

function recordingTerminal(): Terminal & { errText: () => string } {
  let err = '';
  return {
    out: () => {},
    err: (text) => void (err += text),
    outIsTTY: false,
    errIsTTY: false,
    errText: () => err,
  };
}

it('stops on the first Ctrl-C, asks for patience on the second, quits on the third', async () => {
  const terminal = recordingTerminal();
  let forced = 0;
  const before = process.listenerCount('SIGINT');
  signals = watchStopSignals(terminal, () => forced++);
  process.emit('SIGINT', 'SIGINT');
  expect(await signals.first).toBe('SIGINT');
  expect(forced).toBe(0);
  process.emit('SIGTERM', 'SIGTERM');
  expect(terminal.errText()).toMatch(/still stopping/);
  expect(forced).toBe(0);
  process.emit('SIGINT', 'SIGINT');
  expect(forced).toBe(1);
  expect(terminal.errText()).toMatch(/recovers it the next time it starts/);
  signals.dispose();
  signals = null;
  expect(process.listenerCount('SIGINT')).toBe(before);
});
