/**
 * Runs commands for every adapter: checks the command's name and params
 * against the API's schemas, runs its handler, and turns whatever it throws
 * into an error reply. Never throws itself.
 */
import {
  COMMANDS,
  isCommandName,
  type CommandName,
  type CommandResult,
} from '../../core/api/commands';
import type { CallOutcome } from '../../core/api/backend';
import { describeIssues, invalidPayload, unknownCommand } from '../../core/api/wire';
import { toStenoError } from '../../core/errors';
import type { z } from 'zod';

export type CommandHandlers = {
  [K in CommandName]: (
    params: z.output<(typeof COMMANDS)[K]['params']>,
  ) => Promise<CommandResult<K>> | CommandResult<K>;
};

export async function dispatchCommand(
  handlers: CommandHandlers,
  command: unknown,
  params: unknown,
): Promise<CallOutcome> {
  if (!isCommandName(command)) return { ok: false, error: unknownCommand(command) };
  const parsed = COMMANDS[command].params.safeParse(params ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      error: invalidPayload(`The ${command} request`, describeIssues(parsed.error)),
    };
  }
  try {
    const handler = handlers[command] as (p: unknown) => unknown;
    const result = await handler(parsed.data);
    return { ok: true, result };
  } catch (e) {
    return { ok: false, error: toStenoError(e, `running ${command}`).toJSON() };
  }
}
