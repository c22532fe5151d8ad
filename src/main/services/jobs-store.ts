/**
 * The jobs queue on disk: `<data dir>/jobs.json`, replaced atomically at each
 * change of a job's state (never for progress: a job's progress is in its
 * transcript's commit records). At most LIMITS.jobs entries. A file that is
 * not a queue is set aside (`jobs.json.corrupt-<time>`) with a notice, and
 * the queue starts empty: a damaged file never stops Steno from starting.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { StenoError, fileSystemError } from '../../core/errors';
import { JobSchema, LIMITS } from '../../core/api/types';
import { describeIssues } from '../../core/api/wire';
import { setFileAside } from '../set-aside';
import { writeFileAtomic } from '../temp-files';

export const JOBS_FILE = 'jobs.json';
/** 500 entries of about 1 KB: a file larger than this is not a queue. */
const MAX_JOBS_FILE_BYTES = 4 * 1024 * 1024;

export const JobRecordSchema = z.object({
  job: JobSchema,
  /** The source as probed when it was added. */
  bytes: z.number().int().nonnegative(),
  mtimeMs: z.number().finite().nonnegative(),
  durationS: z.number().finite().nonnegative().nullable(),
  /** The job's folder holds a transcription that can continue from its commit point. */
  resumable: z.boolean(),
});
export type JobRecord = z.infer<typeof JobRecordSchema>;

const JobsFileSchema = z.object({
  version: z.literal(1),
  jobs: z.array(JobRecordSchema).max(LIMITS.jobs),
});

export interface LoadedJobs {
  records: JobRecord[];
  /** Set when the file on disk was unusable and set aside. */
  problem: StenoError | null;
}

export async function loadJobs(dataDir: string): Promise<LoadedJobs> {
  const file = path.join(dataDir, JOBS_FILE);
  let text: string;
  try {
    const stat = await fs.promises.stat(file);
    if (stat.size > MAX_JOBS_FILE_BYTES) {
      return { records: [], problem: await setAside(file, 'is too large to be the jobs queue') };
    }
    text = await fs.promises.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], problem: null };
    throw fileSystemError(e, file, 'reading the jobs queue');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { records: [], problem: await setAside(file, 'is not valid JSON') };
  }
  const parsed = JobsFileSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      records: [],
      problem: await setAside(file, `has invalid entries (${describeIssues(parsed.error)})`),
    };
  }
  return { records: parsed.data.jobs, problem: null };
}

export async function saveJobs(dataDir: string, records: readonly JobRecord[]): Promise<void> {
  const file = path.join(dataDir, JOBS_FILE);
  try {
    await fs.promises.mkdir(dataDir, { recursive: true });
    await writeFileAtomic(file, JSON.stringify({ version: 1, jobs: records }) + '\n');
  } catch (e) {
    throw fileSystemError(e, file, 'saving the jobs queue');
  }
}

async function setAside(file: string, why: string): Promise<StenoError> {
  const where = await setFileAside(file);
  return new StenoError(
    'SETTINGS_INVALID',
    `The jobs queue ${file} ${why}. ${where}; the queue starts empty.`,
    'Add the files again; your transcripts in the library are not affected.',
  );
}
