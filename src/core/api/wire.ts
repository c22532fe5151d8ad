/**
 * What crosses a process boundary between a front end and the services, and
 * the checks at the door. The WebSocket and the Electron IPC carry the same
 * requests, replies and events; a malformed one gets an error reply (or is
 * ignored when it cannot be answered) and never throws in the receiver.
 */
import { z } from 'zod';
import { StenoError } from '../errors';
import { COMMANDS, isCommandName, type CommandName, type CommandResult } from './commands';
import { EventSchema, type StenoEvent } from './events';
import { ErrorSchema, type ApiError } from './types';
import { API_VERSION } from './version';

/** Largest message either side accepts, in characters of JSON. */
export const MAX_MESSAGE_CHARS = 4 * 1024 * 1024;

/**
 * Largest WebSocket frame a client may send, in bytes. Client messages are
 * small (a call's params): the server closes the connection (1009) on a bigger
 * frame before buffering it, and the client refuses to send one.
 */
export const MAX_CLIENT_FRAME_BYTES = 1024 * 1024;

/** A command call: `id` pairs it with its reply. */
export const RequestSchema = z.object({
  id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  command: z.string().max(64),
  params: z.unknown(),
});
export type Request = z.infer<typeof RequestSchema>;

export type Reply =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: ApiError };

export const ReplySchema = z.discriminatedUnion('ok', [
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.number().int(), ok: z.literal(false), error: ErrorSchema }),
]);

/** Messages a WebSocket client sends. */
export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), apiVersion: z.number().int() }),
  z.object({ type: z.literal('call'), request: RequestSchema }),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

/** Messages the server sends. */
export type ServerMessage =
  | { type: 'welcome'; apiVersion: number }
  | { type: 'reply'; reply: Reply }
  | { type: 'event'; event: StenoEvent }
  /** Sent before the server closes the connection, saying why. */
  | { type: 'bye'; error: ApiError };

export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('welcome'), apiVersion: z.number().int() }),
  z.object({ type: z.literal('reply'), reply: ReplySchema }),
  z.object({ type: z.literal('event'), event: EventSchema }),
  z.object({ type: z.literal('bye'), error: ErrorSchema }),
]);

/**
 * Electron IPC: one invoke channel per command, so the main process has one
 * handler per command and a name outside the API has no channel at all; one
 * channel for events.
 */
export function ipcCommandChannel<K extends CommandName>(command: K): `steno:command:${K}` {
  return `steno:command:${command}`;
}
export const IPC_EVENT_CHANNEL = 'steno:event';

/** What the preload sends on a command's channel: the channel names the command. */
export const IpcCallSchema = z.object({
  apiVersion: z.number().int(),
  params: z.unknown(),
});

export function versionMismatch(theirs: unknown): ApiError {
  return {
    code: 'API_VERSION_MISMATCH',
    message: `This client speaks API version ${String(theirs)}; Steno speaks version ${API_VERSION}.`,
    action: 'Reload the window, or use the Steno that came with this client.',
  };
}

export function invalidPayload(what: string, issues: string): ApiError {
  return {
    code: 'INVALID_PAYLOAD',
    message: `${what} is malformed: ${issues.slice(0, 500)}.`,
    action: 'This is a bug in the client; reload it.',
  };
}

/** Zod's issues as one short line: where and what. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : 'payload'}: ${i.message}`)
    .join('; ');
}

export function unknownCommand(name: unknown): ApiError {
  return {
    code: 'UNKNOWN_COMMAND',
    message: `There is no command "${String(name).slice(0, 64)}".`,
    action: 'Update the client to this version of Steno.',
  };
}

/** Parses JSON text from the other side; null when it is not JSON or too large. */
export function parseJsonMessage(text: string): unknown {
  if (text.length > MAX_MESSAGE_CHARS) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Checks a command's result on the client side; a bad one becomes an error. */
export function parseResult<K extends CommandName>(command: K, result: unknown): CommandResult<K> {
  const parsed = COMMANDS[command].result.safeParse(result);
  if (!parsed.success) {
    throw new StenoError(
      'INVALID_PAYLOAD',
      `The reply to ${command} is malformed: ${describeIssues(parsed.error)}.`,
      'Reload the window; Steno and this window may be different versions.',
    );
  }
  return parsed.data as CommandResult<K>;
}

/** Checks an event on the client side; null when malformed (it is dropped and reported). */
export function parseEvent(value: unknown): StenoEvent | null {
  const parsed = EventSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

export { isCommandName };
