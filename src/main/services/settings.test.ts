import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../core/api/types';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../../testing/tmp';
import { SETTINGS_FILE, SettingsService } from './settings';

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-settings-');
});
afterEach(() => removeTempDir(dir));

const file = () => path.join(dir, SETTINGS_FILE);

describe('SettingsService', () => {
  it('starts from the defaults when there is no file, and saves atomically', async () => {
    const s = await SettingsService.load(dir);
    expect(s.current).toEqual(DEFAULT_SETTINGS);
    expect(s.loadProblem).toBeNull();
    const changed: number[] = [];
    s.onDidChange((v) => changed.push(v.autoStopAfterHours ?? -1));
    await s.update({ autoStopAfterHours: 12, language: 'de' });
    expect(changed).toEqual([12]);
    expect(JSON.parse(fs.readFileSync(file(), 'utf8'))).toMatchObject({
      autoStopAfterHours: 12,
      language: 'de',
    });
    // No temp file is left beside it.
    expect(listFilesRecursive(dir)).toEqual([SETTINGS_FILE]);
    s.dispose();
    const again = await SettingsService.load(dir);
    expect(again.current.language).toBe('de');
    again.dispose();
  });

  it('refuses invalid values and changes nothing', async () => {
    const s = await SettingsService.load(dir);
    await expect(s.update({ whisperThreads: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(s.update({ language: 'english; rm -rf' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(s.current).toEqual(DEFAULT_SETTINGS);
    expect(fs.existsSync(file())).toBe(false);
    s.dispose();
  });

  for (const [what, content] of [
    ['not JSON', '{"autoStopAfterHours": 3,'],
    ['invalid values', JSON.stringify({ whisperThreads: 'many' })],
    ['not an object', '[1, 2, 3]'],
    ['too large', JSON.stringify({ language: 'en', pad: 'x'.repeat(100_000) })],
  ] as const) {
    it(`a settings file that is ${what} is set aside with a clear message; defaults are used`, async () => {
      fs.writeFileSync(file(), content);
      const s = await SettingsService.load(dir);
      expect(s.current).toEqual(DEFAULT_SETTINGS);
      expect(s.loadProblem?.code).toBe('SETTINGS_INVALID');
      expect(s.loadProblem?.message).toMatch(/moved to .*settings\.json\.corrupt-/);
      const aside = fs.readdirSync(dir).filter((f) => f.startsWith('settings.json.corrupt-'));
      expect(aside).toHaveLength(1);
      // The person's old file is kept as it was.
      expect(fs.readFileSync(path.join(dir, aside[0]!), 'utf8')).toBe(content);
      expect(fs.existsSync(file())).toBe(false);
      s.dispose();
    });
  }

  it('a file from an older version gets the defaults of the settings it lacks', async () => {
    fs.writeFileSync(file(), JSON.stringify({ language: 'fr' }));
    const s = await SettingsService.load(dir);
    expect(s.current).toEqual({ ...DEFAULT_SETTINGS, language: 'fr' });
    expect(s.loadProblem).toBeNull();
    s.dispose();
  });

  it("this run's overrides apply on top and are never saved", async () => {
    const s = await SettingsService.load(dir);
    s.override({ liveTranscript: false, maxTokens: 16 });
    expect(s.current).toMatchObject({ liveTranscript: false, maxTokens: 16 });
    await s.update({ language: 'it' });
    const saved = JSON.parse(fs.readFileSync(file(), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ language: 'it', liveTranscript: true, maxTokens: 64 });
    expect(() => s.override({ maxTokens: 100_000 })).toThrow(/not valid/);
    s.dispose();
  });
});
