/**
 * The native side of the leak tests: in one process, as the model host would,
 * loads the Whisper engine, transcribes, and frees it, `--cycles` times; then
 * does the same with the speaker embedder (create, embed, dispose). After each
 * cycle, a forced GC and the process's RSS from /proc: memory held by
 * whisper.cpp or onnxruntime is invisible to V8's heap figures, so RSS is what
 * shows a native leak.
 *
 *   node --expose-gc --import tsx src/testing/native-cycles-child.ts \
 *       --whisper FILE --embedding FILE [--cycles 100] [--leak-kb 0]
 *
 * `--leak-kb N` keeps N KiB of native memory (a Buffer filled with a non-zero byte, so its pages are
 * resident: calloc leaves fresh zero pages untouched) per cycle: the control that shows the measurement sees a leak.
 *
 * Prints one JSON line: { whisperRssBytes: number[], embedderRssBytes: number[] },
 * entry i being the RSS after cycle i + 1.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { computeFbank, applyCmn } from '../core/fbank';
import { SpeakerEmbedder } from '../host/speaker-embedder';
import { WhisperEngine, WHISPER_SAMPLE_RATE } from '../host/whisper-engine';
import { syntheticAudio } from './whisper-child';

function rssBytes(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no VmRSS in /proc/self/status');
  return Number(m[1]) * 1024;
}

async function settledRss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  // onnxruntime's release and whisper's free finish on other threads' callbacks.
  await new Promise((r) => setTimeout(r, 20));
  gc();
  gc();
  return rssBytes();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      whisper: { type: 'string' },
      embedding: { type: 'string' },
      cycles: { type: 'string', default: '100' },
      'leak-kb': { type: 'string', default: '0' },
    },
  });
  if (!values.whisper || !values.embedding)
    throw new Error('--whisper and --embedding are required');
  const cycles = Number(values.cycles);
  const leakBytes = Number(values['leak-kb']) * 1024;
  // Capacity: one buffer per cycle of each phase when --leak-kb is set (the point of it).
  const kept: Buffer[] = [];
  const progress = (phase: string, i: number) => {
    if ((i + 1) % 10 === 0) process.stderr.write(`native-cycles: ${phase} ${i + 1}/${cycles}\n`);
  };
  // 2 s: above whisper.cpp's 1 s minimum, so every cycle really decodes.
  const audio = syntheticAudio(2);
  const features = applyCmn(computeFbank(audio.subarray(0, 2 * WHISPER_SAMPLE_RATE)));

  // Capacity: one entry per cycle, `cycles` in all.
  const whisperRssBytes: number[] = [];
  for (let i = 0; i < cycles; i++) {
    const engine = await WhisperEngine.load(values.whisper, { threads: 2 });
    await engine.transcribe(audio, { maxTokens: 4 });
    await engine.dispose();
    if (leakBytes > 0) kept.push(Buffer.alloc(leakBytes, 0xa5));
    whisperRssBytes.push(await settledRss());
    progress('whisper', i);
  }
  // Capacity: one entry per cycle, `cycles` in all.
  const embedderRssBytes: number[] = [];
  for (let i = 0; i < cycles; i++) {
    const embedder = await SpeakerEmbedder.create(values.embedding);
    const embedding = await embedder.embed(features);
    if (embedding.length === 0) throw new Error('empty embedding');
    embedder.dispose();
    if (leakBytes > 0) kept.push(Buffer.alloc(leakBytes, 0xa5));
    embedderRssBytes.push(await settledRss());
    progress('embedder', i);
  }
  console.log(JSON.stringify({ whisperRssBytes, embedderRssBytes, keptBuffers: kept.length }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
