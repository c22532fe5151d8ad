import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { StenoError } from '../core/errors';

/** Makes the MODEL_INVALID error for one kind of model file. */
export type InvalidModel = (modelPath: string, problem: string, cause?: unknown) => StenoError;

export function invalidModelError(kind: string, action: string): InvalidModel {
  return (modelPath, problem, cause) =>
    new StenoError(
      'MODEL_INVALID',
      `The ${kind} model ${modelPath} ${problem}.`,
      action,
      cause === undefined ? undefined : { cause },
    );
}

/** The first line of an error's message, without terminal colour codes (onnxruntime adds them). */
export function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  // eslint-disable-next-line no-control-regex
  return (text.replace(/\u001b\[[0-9;]*m/g, '').split('\n')[0] ?? '').trim();
}

/**
 * Reads a model file whole, turning every file-system failure into a sentence:
 * missing, a folder, unreadable, empty, or larger than `maxBytes` (`tooLarge`
 * says why that size cannot be this model).
 */
export async function readModelFile(
  modelPath: string,
  invalid: InvalidModel,
  maxBytes: number,
  tooLarge: (sizeMb: string) => string,
): Promise<Uint8Array> {
  let size: number;
  try {
    const info = await stat(modelPath);
    if (info.isDirectory()) throw invalid(modelPath, 'is a folder, not a model file');
    if (!info.isFile()) throw invalid(modelPath, 'is not a regular file');
    size = info.size;
    await access(modelPath, fsConstants.R_OK);
  } catch (e) {
    if (e instanceof StenoError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw invalid(modelPath, 'does not exist', e);
    if (code === 'EACCES' || code === 'EPERM') {
      throw invalid(modelPath, 'cannot be read (permission denied)', e);
    }
    throw invalid(modelPath, `cannot be read (${errorText(e)})`, e);
  }
  if (size === 0) throw invalid(modelPath, 'is empty (0 bytes)');
  if (size > maxBytes) throw invalid(modelPath, tooLarge((size / 1e6).toFixed(0)));
  try {
    return await readFile(modelPath);
  } catch (e) {
    throw invalid(modelPath, `cannot be read (${errorText(e)})`, e);
  }
}
