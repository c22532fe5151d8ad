/**
 * `npm run bench -- <name> [--quick] [args]`: runs bench/<name>.ts, whose
 * default export takes the remaining arguments and returns the result object.
 * Progress goes to stderr; the last line on stdout is one JSON object.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';

const [name, ...rest] = process.argv.slice(2);
const dir = path.dirname(new URL(import.meta.url).pathname);
const available = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''));

if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name> [--quick]\navailable: ${available.join(', ')}`);
  process.exit(2);
}

const mod = (await import(pathToFileURL(path.join(dir, `${name}.bench.ts`)).href)) as {
  default: (args: string[]) => Promise<Record<string, unknown>>;
};
try {
  const result = await mod.default(rest);
  console.log(JSON.stringify({ bench: name, ...result }));
  const failed = (result as { pass?: boolean }).pass === false;
  process.exit(failed ? 1 : 0);
} catch (e) {
  console.error(e);
  console.log(JSON.stringify({ bench: name, error: String((e as Error)?.message ?? e) }));
  process.exit(1);
}
