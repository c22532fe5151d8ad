import { ensureFixedTextWhisperModel } from './ggml-whisper-model';
import { ensureSpeakerEmbeddingModel } from './speaker-model';
import type { HostOptions } from '../core/host-protocol';

/** What the fixed-text micro Whisper model says for any audio. */
export const KNOWN_TEXT = ' Steno heard this.';

/** Host options for tests: one thread and few tokens keep a test's host cheap. */
export const TEST_HOST_OPTIONS: HostOptions = {
  language: 'en',
  threads: 1,
  maxTokens: 8,
  partials: false,
  embeddingWindowS: 1.5,
};

/** The generated models the live tests use: fixed-text Whisper and the embedding model. */
export async function testModels(): Promise<{ whisper: string; embedding: string; text: string }> {
  const whisper = await ensureFixedTextWhisperModel(KNOWN_TEXT);
  const embedding = await ensureSpeakerEmbeddingModel();
  return { whisper: whisper.path, embedding, text: whisper.text.trim() };
}
