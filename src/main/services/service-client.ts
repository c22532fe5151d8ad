/**
 * How a front end in this process (the CLI, `steno serve`, benchmarks) reaches
 * the services: through the API's own door
 * (`StenoService.call`, validated like any other front end's call), with the
 * outcome turned into a result or a thrown StenoError.
 */
import path from 'node:path';
import { StenoError } from '../../core/errors';
import { LIMITS } from '../../core/api/types';
import type { CommandName, CommandParams, CommandResult } from '../../core/api/commands';
import { StenoService } from './steno-service';
import { STENO_VERSION } from '../version';

export async function openService(out: string | undefined): Promise<StenoService> {
  return StenoService.create({
    ...(out ? { recordingsDir: path.resolve(out) } : {}),
    version: STENO_VERSION,
  });
}

export async function call<K extends CommandName>(
  service: StenoService,
  command: K,
  params: CommandParams<K>,
): Promise<CommandResult<K>> {
  const outcome = await service.call(command, params);
  if (!outcome.ok) throw StenoError.fromWire(outcome.error);
  return outcome.result as CommandResult<K>;
}

/**
 * Reads a whole transcript page by page (memory bounded by one page, however
 * long the meeting); returns the number of segments.
 */
export async function forEachTranscriptPage(
  service: StenoService,
  id: string,
  onPage: (page: CommandResult<'getTranscript'>) => void,
): Promise<number> {
  let offset = 0;
  for (;;) {
    const page = await call(service, 'getTranscript', {
      id,
      offset,
      limit: LIMITS.segmentsPerPage,
    });
    if (page.segments.length > 0 || offset === 0) onPage(page);
    offset += page.segments.length;
    if (page.segments.length === 0 || offset >= page.total) return offset;
  }
}
