/**
 * `npm run bench -- <name> [--quick] [args]`: runs bench/<name>.ts, whose
 * default export takes the remaining arguments and returns the result object.
 * Progress goes to stderr; the last line on stdout is one JSON object.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';

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
/**
 * Every result is also appended to bench/results.jsonl with when, the exact
 * command, the commit it ran on, the machine's CPU model and its load average:
 * the figures quoted anywhere come from there. STENO_BENCH_LOG names another
 * file, for trial runs that are not to be quoted.
 */
const LOG_FILE = process.env.STENO_BENCH_LOG
  ? path.resolve(process.env.STENO_BENCH_LOG)
  : path.join(dir, 'results.jsonl');

function cpuModel(): string {
  return os.cpus()[0]?.model.trim() ?? 'unknown';
}

function record(line: Record<string, unknown>): void {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['describe', '--always', '--dirty'], {
      cwd: dir,
      encoding: 'utf8',
    }).trim();
  } catch {
    // not a git checkout
  }
  const entry = {
    ...line,
    at: new Date().toISOString(),
    command: `npm run bench -- ${[name, ...rest].join(' ')}`,
    commit,
    cpu: cpuModel(),
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    load1: Math.round(os.loadavg()[0]! * 100) / 100,
  };
  fs.appendFileSync(LOG_FILE, JSON.stringify(entry) + '\n');
}

try {
  const result = await mod.default(rest);
  const line = { bench: name, ...result };
  record(line);
  console.log(JSON.stringify(line));
  const failed = (result as { pass?: boolean }).pass === false;
  process.exit(failed ? 1 : 0);
} catch (e) {
  console.error(e);
  const line = { bench: name, error: String((e as Error)?.message ?? e) };
  record(line);
  console.log(JSON.stringify(line));
  process.exit(1);
}
