/**
 * Settings, persisted atomically as `<data dir>/settings.json` and validated
 * on load. A file that cannot be read as settings is set aside (renamed to
 * `settings.json.corrupt-<time>`) with a clear message, and the defaults are
 * used: a damaged file never stops Steno from starting. A file that is valid
 * but lacks newer settings gets their defaults.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Emitter } from '../../core/event';
import { StenoError, fileSystemError } from '../../core/errors';
import { Disposable } from '../../core/lifecycle';
import { DEFAULT_SETTINGS, SettingsSchema, type Settings } from '../../core/api/types';
import { describeIssues } from '../../core/api/wire';
import { setFileAside } from '../set-aside';
import { writeFileAtomic } from '../temp-files';

export const SETTINGS_FILE = 'settings.json';
/** A settings file larger than this is not settings (they are a few hundred bytes). */
const MAX_SETTINGS_BYTES = 64 * 1024;

export class SettingsService extends Disposable {
  private readonly changeEmitter = this._register(new Emitter<Settings>());
  readonly onDidChange = this.changeEmitter.event;
  /** Serialises saves so that two quick changes land in order. */
  private saving: Promise<void> = Promise.resolve();

  /**
   * Values for this run only (the CLI's flags): they apply on top of the saved
   * settings and are never written to the file.
   */
  private overrides: Partial<Settings> = {};

  private constructor(
    readonly file: string,
    /** The saved settings. */
    private values: Settings,
    /** Set when the file on disk was unusable and set aside at load. */
    readonly loadProblem: StenoError | null,
  ) {
    super();
  }

  static async load(dataDir: string): Promise<SettingsService> {
    const file = path.join(dataDir, SETTINGS_FILE);
    let text: string;
    try {
      const stat = await fs.promises.stat(file);
      if (stat.size > MAX_SETTINGS_BYTES) {
        return new SettingsService(
          file,
          { ...DEFAULT_SETTINGS },
          await setAside(file, 'is too large to be settings'),
        );
      }
      text = await fs.promises.readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return new SettingsService(file, { ...DEFAULT_SETTINGS }, null);
      return new SettingsService(
        file,
        { ...DEFAULT_SETTINGS },
        new StenoError(
          'SETTINGS_INVALID',
          `The settings file ${file} could not be read (${(e as Error).message}); the defaults are used.`,
          'Check the permissions of the data folder; changes you make now may not be saved.',
        ),
      );
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return new SettingsService(
        file,
        { ...DEFAULT_SETTINGS },
        await setAside(file, 'is not valid JSON'),
      );
    }
    const parsed = SettingsSchema.partial().safeParse(raw);
    if (!parsed.success) {
      return new SettingsService(
        file,
        { ...DEFAULT_SETTINGS },
        await setAside(file, `has invalid values (${describeIssues(parsed.error)})`),
      );
    }
    return new SettingsService(file, { ...DEFAULT_SETTINGS, ...stripUndefined(parsed.data) }, null);
  }

  get current(): Settings {
    return { ...this.values, ...this.overrides };
  }

  /** Sets this run's overrides (validated like any settings; not saved). */
  override(patch: Partial<Settings>): void {
    const next = SettingsSchema.safeParse({ ...this.values, ...stripUndefined(patch) });
    if (!next.success) {
      throw new StenoError(
        'INVALID_ARGUMENT',
        `These settings are not valid: ${describeIssues(next.error)}.`,
        'Check the values and try again.',
      );
    }
    this.overrides = stripUndefined(patch);
  }

  /** Validates and applies `patch`, saves it, and fires onDidChange. */
  update(patch: Partial<Settings>): Promise<Settings> {
    // Each update starts from the one before it (two windows changing two
    // settings at once keep both), so it is computed inside the chain.
    const done = this.saving.then(async () => {
      const next = SettingsSchema.safeParse({ ...this.values, ...stripUndefined(patch) });
      if (!next.success) {
        throw new StenoError(
          'INVALID_ARGUMENT',
          `These settings are not valid: ${describeIssues(next.error)}.`,
          'Check the values and try again; nothing was changed.',
        );
      }
      await this.save(next.data);
      this.values = next.data;
      this.changeEmitter.fire(this.current);
      return this.current;
    });
    this.saving = done.then(
      () => {},
      () => {},
    );
    return done;
  }

  private async save(values: Settings): Promise<void> {
    try {
      await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
      await writeFileAtomic(this.file, JSON.stringify(values, null, 2) + '\n');
    } catch (e) {
      throw fileSystemError(e, this.file, 'saving the settings');
    }
  }
}

async function setAside(file: string, why: string): Promise<StenoError> {
  const where = await setFileAside(file);
  return new StenoError(
    'SETTINGS_INVALID',
    `The settings file ${file} ${why}. ${where}; the defaults are used.`,
    'Set your settings again; compare with the old file if you need its values.',
  );
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
