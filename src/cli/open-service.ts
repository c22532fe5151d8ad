import { openService } from '../main/services/service-client';
import type { StenoService } from '../main/services/steno-service';
import type { Terminal } from '../main/terminal';
import { printStartupNotices } from './recovery-output';

/** The services for one CLI command, with what start-up found told on stderr. */
export async function openServiceForCli(
  out: string | undefined,
  terminal: Terminal,
): Promise<StenoService> {
  const service = await openService(out);
  printStartupNotices(service, terminal);
  return service;
}
