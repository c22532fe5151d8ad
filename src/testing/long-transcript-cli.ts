/**
 * `node --import tsx long-transcript-cli.ts <folder> [options as JSON]`:
 * writes a long transcript log into folder, prints its truth as JSON.
 */
import { writeLongTranscriptLog, type LongTranscriptOptions } from './long-transcript';

const [folder, options] = process.argv.slice(2);
if (!folder) {
  process.stderr.write('usage: long-transcript-cli.ts <folder> [options as JSON]\n');
  process.exit(2);
}
const truth = writeLongTranscriptLog(folder, JSON.parse(options ?? '{}') as LongTranscriptOptions);
process.stdout.write(JSON.stringify(truth));
