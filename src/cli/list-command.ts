/** `steno list`: the library service's recordings, newest first. */
import { LIMITS } from '../core/api/types';
import type { Terminal } from '../main/terminal';
import { printRecovery } from './recovery-output';
import { call } from '../main/services/service-client';
import { openServiceForCli } from './open-service';

export async function runList(
  opts: { out?: string | boolean; json?: string | boolean },
  terminal: Terminal,
): Promise<number> {
  const service = await openServiceForCli(
    typeof opts.out === 'string' ? opts.out : undefined,
    terminal,
  );
  try {
    if (opts.json) terminal.out(JSON.stringify(service.recoveryEvent()) + '\n');
    else printRecovery(service.recovery, terminal);
    let offset = 0;
    let shown = 0;
    for (;;) {
      const page = await call(service, 'listRecordings', { offset, limit: LIMITS.listItems });
      if (opts.json) terminal.out(JSON.stringify(page) + '\n');
      else {
        for (const r of page.recordings) {
          terminal.out(
            `${r.id}  ${r.state.padEnd(9)}  ${r.durationS.toFixed(1).padStart(8)} s  ${service.store.audioPath(r.id)}\n`,
          );
        }
      }
      shown += page.recordings.length;
      offset += LIMITS.listItems;
      if (offset >= page.total) break;
    }
    if (!opts.json && shown === 0) terminal.out(`No recordings in ${service.store.root}.\n`);
    return 0;
  } finally {
    service.dispose();
  }
}
