/**
 * Every command a front end can send: request -> reply. Params and results are
 * zod schemas; the service validates params where they arrive, clients
 * validate results where they arrive. Later capabilities add their commands
 * here, to the same table.
 */
import { z } from 'zod';
import {
  AppInfoSchema,
  AppStateSchema,
  DeviceSchema,
  ErrorSchema,
  JobIdSchema,
  JobSchema,
  LIMITS,
  LiveRecordingSchema,
  RecordingIdSchema,
  RecordingSummarySchema,
  SegmentSchema,
  SettingsSchema,
  SpeakerCountSchema,
  SpeakerNamesSchema,
} from './types';

const none = z.strictObject({});
const byId = z.strictObject({ id: RecordingIdSchema });
const byJobId = z.strictObject({ id: JobIdSchema });

export const COMMANDS = {
  appInfo: { params: none, result: AppInfoSchema },
  /** Everything a client needs to draw itself; also how a client resynchronises. */
  getState: { params: none, result: AppStateSchema },
  listDevices: { params: none, result: z.array(DeviceSchema).max(LIMITS.listItems) },
  /** Starts a recording (one at a time); `deviceId` and `speakers` override the settings. */
  startRecording: {
    params: z.strictObject({
      deviceId: z.number().int().optional(),
      speakers: SpeakerCountSchema.optional(),
    }),
    result: LiveRecordingSchema,
  },
  pauseRecording: { params: none, result: LiveRecordingSchema },
  resumeRecording: { params: none, result: LiveRecordingSchema },
  /** Resolves once the audio is final; the transcript finishes after (an event says when). */
  stopRecording: { params: none, result: RecordingSummarySchema },
  listRecordings: {
    params: z.strictObject({
      offset: z.number().int().nonnegative().optional(),
      limit: z.number().int().min(1).max(LIMITS.listItems).optional(),
    }),
    result: z.object({
      recordings: z.array(RecordingSummarySchema).max(LIMITS.listItems),
      total: z.number().int().nonnegative(),
    }),
  },
  getRecording: {
    params: byId,
    result: z.object({
      recording: RecordingSummarySchema,
      audioPath: z.string().max(LIMITS.pathChars),
      audioBytes: z.number().int().nonnegative().nullable(),
      segmentCount: z.number().int().nonnegative(),
      speakerNames: SpeakerNamesSchema,
    }),
  },
  /** Removes the recording's folder; `confirm` says the person was asked. */
  deleteRecording: {
    params: z.strictObject({ id: RecordingIdSchema, confirm: z.literal(true) }),
    result: z.object({ id: RecordingIdSchema }),
  },
  /** One page of a transcript (pages keep a 12-hour meeting's reply bounded). */
  getTranscript: {
    params: z.strictObject({
      id: RecordingIdSchema,
      offset: z.number().int().nonnegative().optional(),
      limit: z.number().int().min(1).max(LIMITS.segmentsPerPage).optional(),
    }),
    result: z.object({
      segments: z.array(SegmentSchema).max(LIMITS.segmentsPerPage),
      speakerNames: SpeakerNamesSchema,
      offset: z.number().int().nonnegative(),
      total: z.number().int().nonnegative(),
    }),
  },
  renameSpeaker: {
    params: z.strictObject({
      id: RecordingIdSchema,
      speaker: z.number().int().min(0).max(LIMITS.listItems),
      name: z.string().min(1).max(LIMITS.nameChars),
    }),
    result: z.object({ speaker: z.number().int(), name: z.string().max(LIMITS.nameChars) }),
  },
  getSettings: { params: none, result: SettingsSchema },
  /** Changes some settings; the rest keep their values. */
  setSettings: {
    params: z.strictObject({ settings: SettingsSchema.partial().strict() }),
    result: SettingsSchema,
  },
  /** Ends the model host now; its memory goes back to the OS. */
  unloadModels: {
    params: none,
    result: z.object({
      hostWasRunning: z.boolean(),
      treeRssBeforeBytes: z.number().int().nonnegative(),
      treeRssAfterBytes: z.number().int().nonnegative(),
      freedBytes: z.number().int(),
    }),
  },
  /**
   * Queues files (folders: the media files in them) for transcription. What
   * cannot be queued (not found, not media, too large, the queue full) is
   * refused one by one with its reason; the rest is queued.
   */
  addJobs: {
    params: z.strictObject({
      paths: z.array(z.string().min(1).max(LIMITS.pathChars)).min(1).max(LIMITS.jobs),
      whisperModel: z.string().min(1).max(LIMITS.pathChars).optional(),
      language: z
        .string()
        .regex(/^(auto|[a-z]{2,3})$/, 'a language is a code such as "en", or "auto"')
        .optional(),
      copySource: z.boolean().optional(),
    }),
    result: z.object({
      jobs: z.array(JobSchema).max(LIMITS.jobs),
      refused: z
        .array(z.object({ path: z.string().max(LIMITS.pathChars), error: ErrorSchema }))
        .max(LIMITS.jobs),
    }),
  },
  listJobs: { params: none, result: z.object({ jobs: z.array(JobSchema).max(LIMITS.jobs) }) },
  /** Stops a queued, running or paused job; nothing of it remains but its entry. */
  cancelJob: { params: byJobId, result: JobSchema },
  /** Queues a failed or cancelled job again, from the start. */
  retryJob: { params: byJobId, result: JobSchema },
  /** Takes a job that is not running off the list (its transcript, if any, stays in the library). */
  removeJob: { params: byJobId, result: z.object({ id: JobIdSchema }) },
} as const;

export type CommandName = keyof typeof COMMANDS;
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];
export type CommandParams<K extends CommandName> = z.input<(typeof COMMANDS)[K]['params']>;
export type CommandResult<K extends CommandName> = z.output<(typeof COMMANDS)[K]['result']>;

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(COMMANDS, name);
}

/** The commands as functions: what the preload exposes and every client offers. */
export type StenoCommands = {
  [K in CommandName]: (params: CommandParams<K>) => Promise<CommandResult<K>>;
};
