import fs from 'node:fs';

/**
 * Moves a damaged file Steno keeps (settings, the jobs queue) out of the
 * way, to `<file>.corrupt-<time>`, so that Steno starts with defaults and
 * the old file is still there to compare. Returns the sentence that says
 * where it went (or why it could not be moved), for the person's notice.
 */
export async function setFileAside(file: string): Promise<string> {
  const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    await fs.promises.rename(file, aside);
    return `It was moved to ${aside}`;
  } catch (e) {
    return `It could not be moved aside (${(e as Error).message})`;
  }
}
