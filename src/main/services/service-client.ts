/**
 * How every CLI command reaches the services: through the API's own door
 * (`StenoService.call`, validated like any other front end's call), with the
 * outcome turned into a result or a thrown StenoError.
 */
import path from 'node:path';
import { StenoError } from '../core/errors';
import type { CommandName, CommandParams, CommandResult } from '../core/api/commands';
import { StenoService } from '../main/services/steno-service';
import { STENO_VERSION } from '../main/version';

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
