/**
 * The model host's configuration from the settings: which model files, and
 * how Whisper and the speaker model run. Recordings and file jobs start
 * their hosts from the same settings, so they share this.
 */
import { StenoError } from '../../core/errors';
import type { Settings } from '../../core/api/types';
import type { HostModelPaths, HostOptions } from '../../core/host-protocol';
import type { SpeakerCount } from '../../core/transcript';
import { missingModels, resolveModelPaths } from '../models';

export interface HostConfig {
  models: HostModelPaths;
  options: HostOptions;
}

export interface HostConfigChoice {
  speakers: SpeakerCount;
  /** A Whisper model file instead of the setting's (a job's own choice). */
  whisperModel?: string;
  /** A language instead of the setting's. */
  language?: string;
  /** The speaker-change threshold, when a benchmark tunes it. */
  speakerChangeThreshold?: number;
}

/** The model files named in the settings (or a job) are not there. */
export class MissingModelsError extends StenoError {
  constructor(readonly missing: string[]) {
    super(
      'MODEL_INVALID',
      `No model at ${missing.join(', ')}.`,
      'Put the models there (see README, "Speech models") or choose model files in the settings.',
    );
  }
}

/** The host's configuration; throws MissingModelsError when a model file is not there. */
export function hostConfigFrom(settings: Settings, choice: HostConfigChoice): HostConfig {
  const whisper = choice.whisperModel ?? settings.whisperModel;
  const models = resolveModelPaths({
    ...(whisper ? { whisper } : {}),
    ...(settings.embeddingModel ? { embedding: settings.embeddingModel } : {}),
  });
  const missing = missingModels(models);
  if (missing.length > 0) throw new MissingModelsError(missing);
  return {
    models,
    options: {
      language: choice.language ?? settings.language,
      threads: settings.whisperThreads,
      maxTokens: settings.maxTokens,
      partials: settings.partials,
      embeddingWindowS: 1.5,
      speakerChanges: choice.speakers !== 1,
      ...(choice.speakerChangeThreshold !== undefined
        ? { speakerChangeThreshold: choice.speakerChangeThreshold }
        : {}),
    },
  };
}
