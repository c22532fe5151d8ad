import { ensureFixedTextWhisperModel } from './ggml-whisper-model';
import { ensureSpeakerEmbeddingModel } from './speaker-model';

/** What the fixed-text micro Whisper model says for any audio. */
export const KNOWN_TEXT = ' Steno heard this.';

/** The generated models the live tests use: fixed-text Whisper and the embedding model. */
export async function testModels(): Promise<{ whisper: string; embedding: string; text: string }> {
  const whisper = await ensureFixedTextWhisperModel(KNOWN_TEXT);
  const embedding = await ensureSpeakerEmbeddingModel();
  return { whisper: whisper.path, embedding, text: whisper.text.trim() };
}
