import type { RecoveryReport } from '../main/recording/recovery';
import type { Terminal } from '../main/terminal';

/** Tells the person, on stderr, what startup recovery did. */
export function printRecovery(report: RecoveryReport, terminal: Terminal): void {
  for (const m of report.recovered) {
    terminal.err(`Recovered recording ${m.id} (${m.durationS.toFixed(1)} s) left by a crash.\n`);
  }
  for (const f of report.failed) {
    terminal.err(`Could not recover ${f.id}: ${f.error.toUserString()}\n`);
  }
}
