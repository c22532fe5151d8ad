/**
 * The data the API speaks of, as zod schemas: each type is inferred from its
 * schema, so the validator and the type cannot drift. Every string, array and
 * number has a bound: a payload that crossed a process boundary cannot make
 * the receiver allocate without limit.
 */
import { z } from 'zod';
import { STENO_ERROR_CODES } from '../errors';
import { MAX_SPEAKER_COUNT } from '../transcript';

/** Limits on what crosses a boundary. */
export const LIMITS = {
  /** Recording ids: `20261123-195001-1a2b3c`; generous for recovered folders. */
  idChars: 64,
  /** Speaker names (the transcript store enforces 100 too). */
  nameChars: 100,
  /** One segment's text (Whisper's 224-token cap is far below it). */
  textChars: 10_000,
  pathChars: 4096,
  messageChars: 4000,
  /** Devices, speakers, recordings per page: arrays are capped. */
  listItems: 1000,
  /** Segments per transcript page and per relabel event. */
  segmentsPerPage: 2000,
  /** Jobs in the queue, finished ones included (see JobsService for the policy when full). */
  jobs: 500,
} as const;

export const ErrorSchema = z.object({
  code: z.enum(STENO_ERROR_CODES),
  message: z.string().max(LIMITS.messageChars),
  action: z.string().max(LIMITS.messageChars),
});
export type ApiError = z.infer<typeof ErrorSchema>;

const nonNegative = () => z.number().finite().nonnegative();
const count = () => z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const RecordingIdSchema = z
  .string()
  .min(1)
  .max(LIMITS.idChars)
  .regex(/^[A-Za-z0-9_-]+$/, 'a recording id has only letters, digits, - and _');

export const AppInfoSchema = z.object({
  version: z.string().max(64),
  apiVersion: z.number().int(),
  platform: z.string().max(32),
  recordingsDir: z.string().max(LIMITS.pathChars),
});
export type AppInfo = z.infer<typeof AppInfoSchema>;

export const DeviceSchema = z.object({
  id: z.number().int(),
  name: z.string().max(512),
  maxInputChannels: count(),
  defaultSampleRate: nonNegative(),
  hostApi: z.string().max(128),
});
export type Device = z.infer<typeof DeviceSchema>;

export const STOP_REASONS = ['user', 'silence', 'max-duration', 'error', 'shutdown'] as const;
export const StopReasonSchema = z.enum(STOP_REASONS);
/** Why a recording ended: the person, an auto-stop setting, a failure, or the app quitting. */
export type StopReason = z.infer<typeof StopReasonSchema>;

export const RecordingStateSchema = z.enum([
  'recording',
  'paused',
  'complete',
  'recovered',
  'failed',
  /** A file's transcript is being made (a job runs or waits to continue). */
  'transcribing',
]);

/** Where a library item's audio came from, when it is a transcribed file. */
export const FileSourceSchema = z.object({
  path: z.string().max(LIMITS.pathChars),
  bytes: count(),
  /** SHA-256 of the file's bytes, hex: a moved or changed source is recognised by it. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The file's modification time when it was added, ms since the epoch. */
  mtimeMs: nonNegative(),
  /** The copy inside the item's folder, when the person asked for one. */
  copy: z.string().max(LIMITS.pathChars).optional(),
});
export type FileSource = z.infer<typeof FileSourceSchema>;

/** A recording as the library lists it (its meta.json). */
export const RecordingSummarySchema = z.object({
  id: RecordingIdSchema,
  startedAt: z.string().max(64),
  endedAt: z.string().max(64).optional(),
  device: z.string().max(512),
  sampleRate: nonNegative(),
  channels: count(),
  durationS: nonNegative(),
  state: RecordingStateSchema,
  recoveredAt: z.string().max(64).optional(),
  stopReason: StopReasonSchema.optional(),
  error: ErrorSchema.optional(),
  /** Set for a transcribed file: the file it came from. */
  source: FileSourceSchema.optional(),
});
export type RecordingSummary = z.infer<typeof RecordingSummarySchema>;

export const SegmentSchema = z.object({
  id: count(),
  startS: nonNegative(),
  endS: nonNegative(),
  text: z.string().max(LIMITS.textChars),
  speaker: count(),
  /** Two voices at once somewhere in it; `speaker` is the dominant one. */
  overlap: z.literal(true).optional(),
});
export type Segment = z.infer<typeof SegmentSchema>;

export const PartialSchema = z.object({
  startS: nonNegative(),
  endS: nonNegative(),
  text: z.string().max(LIMITS.textChars),
});

export const SpeakerNamesSchema = z
  .record(z.string().regex(/^\d{1,4}$/), z.string().max(LIMITS.nameChars))
  .refine((r) => Object.keys(r).length <= LIMITS.listItems, 'too many speakers');

export const LIVE_STATES = ['recording', 'paused', 'stopping'] as const;
/** The recording in progress, if any. */
export const LiveRecordingSchema = z.object({
  id: RecordingIdSchema,
  state: z.enum(LIVE_STATES),
  device: z.string().max(512),
  startedAt: z.string().max(64),
  /** Where the audio is being written. */
  audioPath: z.string().max(LIMITS.pathChars),
  sampleRate: nonNegative(),
  /** Seconds of audio recorded (paused time not counted). */
  elapsedS: nonNegative(),
  /** Whether the live transcript runs beside it. */
  transcribing: z.boolean(),
});
export type LiveRecording = z.infer<typeof LiveRecordingSchema>;

export const HOST_STATES = [
  'stopped',
  'starting',
  'ready',
  'parked',
  'crashed',
  'restarted',
  'failed',
] as const;
export const HostStateSchema = z.enum(HOST_STATES);
export type HostState = z.infer<typeof HostStateSchema>;

/** How many people speak: 'auto' estimates it at the end; a number fixes it. */
export const SpeakerCountSchema = z.union([
  z.literal('auto'),
  z.number().int().min(1).max(MAX_SPEAKER_COUNT),
]);

export const SettingsSchema = z.object({
  /** Stop after this many minutes of silence; null is off (the default). */
  autoStopSilenceMinutes: z
    .number()
    .finite()
    .min(1)
    .max(24 * 60)
    .nullable(),
  /** Stop after this many hours: a safety net for a forgotten recording; null is off. */
  autoStopAfterHours: z.number().finite().min(0.01).max(48).nullable(),
  /** Below this peak level (dBFS) the input counts as silence for the auto-stop. */
  silenceThresholdDbfs: z.number().finite().min(-120).max(0),
  /** A device id from listDevices, or null for the system default. */
  deviceId: z.number().int().nullable(),
  /** Run the live transcript beside each recording. */
  liveTranscript: z.boolean(),
  /** Show the utterance in progress while it is spoken. */
  partials: z.boolean(),
  /** Whisper language code, or 'auto'. */
  language: z.string().regex(/^(auto|[a-z]{2,3})$/, 'a language is a code such as "en", or "auto"'),
  whisperThreads: z.number().int().min(1).max(64),
  maxTokens: z.number().int().min(1).max(224),
  /** How many people speak in a recording, unless startRecording says: 'auto' or 1-10. */
  speakers: SpeakerCountSchema,
  /** Model files; null means the default place in the data directory. */
  whisperModel: z.string().max(LIMITS.pathChars).nullable(),
  embeddingModel: z.string().max(LIMITS.pathChars).nullable(),
  /** A file larger than this (gigabytes) is refused before it is queued. */
  maxFileGB: z.number().finite().positive().max(100_000),
});
export type Settings = z.infer<typeof SettingsSchema>;

export const DEFAULT_SETTINGS: Settings = {
  autoStopSilenceMinutes: null,
  autoStopAfterHours: 16,
  silenceThresholdDbfs: -50,
  deviceId: null,
  liveTranscript: true,
  partials: true,
  language: 'en',
  whisperThreads: 2,
  maxTokens: 64,
  speakers: 'auto',
  whisperModel: null,
  embeddingModel: null,
  maxFileGB: 20,
};

const bytesOrUnknown = () => count().nullable();

/** One sample of the resources in use; null means not known (not zero). */
export const MetricsSchema = z.object({
  /** Wall-clock time of the sample, ms since the epoch. */
  at: count(),
  mainRssBytes: count(),
  /** 0 when no host process runs; null when one runs and did not answer within 1 s. */
  hostRssBytes: bytesOrUnknown(),
  hostState: HostStateSchema,
  heapUsedBytes: count(),
  modelsLoaded: z.boolean(),
  ringUsedBytes: bytesOrUnknown(),
  ringHighWaterBytes: bytesOrUnknown(),
  ringCapacityBytes: bytesOrUnknown(),
  framesDropped: count().nullable(),
  /** How far the transcript is behind the recording. */
  transcriptionLagS: nonNegative().nullable(),
  recordingFileBytes: bytesOrUnknown(),
  diskFreeBytes: bytesOrUnknown(),
  /** Recording time the free disk space holds at the current rate. */
  recordingSecondsLeft: nonNegative().nullable(),
});
export type Metrics = z.infer<typeof MetricsSchema>;

/** What capture did over a whole recording, reported when it ends. */
export const CaptureStatsSchema = z.object({
  /** Seconds the device delivered (paused time included). */
  capturedS: nonNegative(),
  framesDropped: count(),
  ringHighWaterBytes: count(),
  ringCapacityBytes: count(),
});
export type CaptureStats = z.infer<typeof CaptureStatsSchema>;

export const JOB_STATES = [
  'queued',
  'running',
  /** Stopped for a recording (or a quit) at its commit point; it continues from there. */
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const;
export const JobStateSchema = z.enum(JOB_STATES);
export type JobState = z.infer<typeof JobStateSchema>;

export const JobIdSchema = z
  .string()
  .min(1)
  .max(LIMITS.idChars)
  .regex(/^[A-Za-z0-9_-]+$/, 'a job id has only letters, digits, - and _');

/** How far a job is; the figures not yet known are null. */
export const JobProgressSchema = z.object({
  /** 0..1 of the file transcribed. */
  fraction: z.number().finite().min(0).max(1).nullable(),
  /** Seconds of audio transcribed. */
  doneS: nonNegative(),
  /** The file's length in seconds. */
  totalS: nonNegative().nullable(),
  /** Audio seconds transcribed per wall-clock second in this run. */
  speed: nonNegative().nullable(),
  /** Seconds until it is done at that speed. */
  etaS: nonNegative().nullable(),
});
export type JobProgress = z.infer<typeof JobProgressSchema>;

/** One file to transcribe, in the jobs queue. */
export const JobSchema = z.object({
  id: JobIdSchema,
  /** The file as the person gave it (absolute). */
  source: z.string().max(LIMITS.pathChars),
  state: JobStateSchema,
  addedAt: z.string().max(64),
  startedAt: z.string().max(64).optional(),
  endedAt: z.string().max(64).optional(),
  /** The library item the transcript goes to (exists while running, paused and once completed). */
  itemId: RecordingIdSchema,
  /** A Whisper model file for this job (else the setting's). */
  whisperModel: z.string().max(LIMITS.pathChars).optional(),
  /** A language for this job (else the setting's). */
  language: z.string().max(8).optional(),
  /** Copy the source into the item's folder. */
  copySource: z.boolean(),
  progress: JobProgressSchema,
  /** Why it failed. */
  error: ErrorSchema.optional(),
  /** Times it was started (a resume after a pause or a crash counts). */
  runs: count(),
});
export type Job = z.infer<typeof JobSchema>;

/** What a client needs to draw itself from nothing (on connect, after a resync). */
export const AppStateSchema = z.object({
  recording: LiveRecordingSchema.nullable(),
  hostState: HostStateSchema,
  settings: SettingsSchema,
  metrics: MetricsSchema.nullable(),
  /** Problems found at start-up that a person should read (a damaged settings file set aside). */
  notices: z.array(ErrorSchema).max(16).optional(),
});
export type AppState = z.infer<typeof AppStateSchema>;
