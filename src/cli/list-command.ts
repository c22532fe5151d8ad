import path from 'node:path';
import { defaultRecordingsDir } from '../main/paths';
import { RecordingsStore } from '../main/recording/recordings-store';
import { recoverRecordings } from '../main/recording/recovery';
import { printRecovery } from './recovery-output';

export async function runList(opts: {
  out?: string | boolean;
  json?: string | boolean;
}): Promise<number> {
  const store = new RecordingsStore(path.resolve(String(opts.out ?? defaultRecordingsDir())));
  const report = await recoverRecordings(store);
  const recordings = await store.list();
  if (opts.json) {
    process.stdout.write(
      JSON.stringify({ event: 'list', recovery: summarize(report), recordings }) + '\n',
    );
    return 0;
  }
  printRecovery(report);
  if (recordings.length === 0) {
    process.stdout.write(`No recordings in ${store.root}.\n`);
    return 0;
  }
  for (const r of recordings) {
    process.stdout.write(
      `${r.id}  ${r.state.padEnd(9)}  ${r.durationS.toFixed(1).padStart(8)} s  ${store.audioPath(r.id)}\n`,
    );
  }
  return 0;
}

export function summarize(report: Awaited<ReturnType<typeof recoverRecordings>>): object {
  return {
    recovered: report.recovered.map((m) => ({ id: m.id, durationS: m.durationS })),
    failed: report.failed.map((f) => ({ id: f.id, error: f.error.toJSON() })),
    tempFilesRemoved: report.tempFilesRemoved.length,
  };
}
