import type { RecoveryReport } from '../main/recording/recovery';

/** Tells the person, on stderr, what startup recovery did. */
export function printRecovery(report: RecoveryReport): void {
  for (const m of report.recovered) {
    process.stderr.write(
      `Recovered recording ${m.id} (${m.durationS.toFixed(1)} s) left by a crash.\n`,
    );
  }
  for (const f of report.failed) {
    process.stderr.write(`Could not recover ${f.id}: ${f.error.toUserString()}\n`);
  }
}
