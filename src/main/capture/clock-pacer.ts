import { toDisposable, type IDisposable } from '../../core/lifecycle';

/**
 * Calls `deliver` once per `periodMs`, catching up by the clock so timer jitter
 * does not change the rate (simulated devices deliver as a real one would).
 * `deliver` returns false to stop delivering. The timer fires every
 * `checkEveryMs` (default: once per period).
 */
export function paceByClock(
  periodMs: number,
  deliver: () => boolean,
  checkEveryMs = periodMs,
): IDisposable {
  const started = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - started) / periodMs);
    while (sent < due && deliver()) sent++;
  }, checkEveryMs);
  return toDisposable(() => clearInterval(timer));
}
