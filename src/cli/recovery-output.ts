import type { RecoveryReport } from '../main/recording/recovery';
import type { StenoService } from '../main/services/steno-service';
import type { Terminal } from '../main/terminal';

/** Tells the person, on stderr, what Steno found at start-up (a damaged settings file). */
export function printStartupNotices(service: StenoService, terminal: Terminal): void {
  const problem = service.settings.loadProblem;
  if (problem) terminal.err(`steno: ${problem.toUserString()}\n`);
}

/** Tells the person, on stderr, what startup recovery did. */
export function printRecovery(report: RecoveryReport, terminal: Terminal): void {
  for (const m of report.recovered) {
    terminal.err(`Recovered recording ${m.id} (${m.durationS.toFixed(1)} s) left by a crash.\n`);
  }
  for (const f of report.failed) {
    terminal.err(`Could not recover ${f.id}: ${f.error.toUserString()}\n`);
  }
}
