import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  MODEL_CACHE_DIR,
  ensureWhisperModel,
  float32ToFloat16Bits,
  melFilters,
  vocabBytes,
  whisperModelByteSize,
  writeWhisperModel,
} from './ggml-whisper-model';

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'whisper-child.ts');

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  json: { ok: boolean; runs?: { n_tokens: number; text: string }[]; error?: string } | null;
  stderr: string;
}

/** Loads and transcribes in a child: a model whisper.cpp rejects takes its process down with it. */
function runChild(args: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let json: ChildResult['json'] = null;
      try {
        json = JSON.parse(last) as ChildResult['json'];
      } catch {
        json = null;
      }
      resolve({ code, signal, json, stderr: stderr.split('\n').slice(-20).join('\n') });
    });
  });
}

describe('ggml whisper model generator', () => {
  it('writes the byte layout whisper.cpp reads', () => {
    const vocab = vocabBytes();
    expect(vocab.readInt32LE(0)).toBe(50256);
    // Token 220 is " ": walk the length-prefixed entries.
    let off = 4;
    for (let id = 0; id < 220; id++) off += 4 + vocab.readUInt32LE(off);
    expect(vocab.readUInt32LE(off)).toBe(1);
    expect(vocab.toString('latin1', off + 4, off + 5)).toBe(' ');
    const filters = melFilters(80);
    expect(filters.length).toBe(80 * 201);
    expect(filters.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00);
    expect(float32ToFloat16Bits(5.960464477539063e-8)).toBe(1);
  });

  it('refuses n_text_layer = 2, which whisper.cpp treats as a distil model', () => {
    expect(() => whisperModelByteSize({ shape: 'micro', hparams: { n_text_layer: 2 } })).toThrow(
      /distil/,
    );
  });

  it('generates a micro model that smart-whisper loads and transcribes', async () => {
    const file = await ensureWhisperModel('micro');
    expect(fs.statSync(file).size).toBe(whisperModelByteSize({ shape: 'micro' }));
    const r = await runChild([
      '--model',
      file,
      '--seconds',
      '5',
      '--max-tokens',
      '8',
      '--threads',
      '1',
    ]);
    expect(r.json, r.stderr).toMatchObject({ ok: true });
    expect(r.code).toBe(0);
    expect(r.json?.runs?.[0]?.n_tokens).toBeGreaterThan(0);
  });

  it('regenerates a cached model whose size is wrong, leaving no temporary file', async () => {
    const file = await ensureWhisperModel('micro');
    fs.truncateSync(file, 1000);
    expect(await ensureWhisperModel('micro')).toBe(file);
    expect(fs.statSync(file).size).toBe(whisperModelByteSize({ shape: 'micro' }));
    expect(fs.readdirSync(MODEL_CACHE_DIR).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('is deterministic for a seed and different across seeds', async () => {
    const dir = fs.mkdtempSync(path.join(MODEL_CACHE_DIR, 'seed-'));
    try {
      const [a, b, c] = ['a', 'b', 'c'].map((n) => path.join(dir, `${n}.bin`)) as [
        string,
        string,
        string,
      ];
      await writeWhisperModel(a, { shape: 'micro', seed: 1 });
      await writeWhisperModel(b, { shape: 'micro', seed: 1 });
      await writeWhisperModel(c, { shape: 'micro', seed: 2 });
      expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
      expect(fs.readFileSync(a).equals(fs.readFileSync(c))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generates a tiny.en-shaped model (78 MB, f16) that transcribes 5 s of audio', async () => {
    const file = await ensureWhisperModel('tiny');
    expect(fs.statSync(file).size).toBeGreaterThan(77e6);
    const r = await runChild([
      '--model',
      file,
      '--seconds',
      '5',
      '--max-tokens',
      '4',
      '--threads',
      '2',
    ]);
    expect(r.json, r.stderr).toMatchObject({ ok: true });
    expect(r.code).toBe(0);
  }, 120_000);
});
