/**
 * The floor under Steno's recording CPU, for record-cpu: the plainest Node
 * recorder on the binding Steno uses. Plain Node (no tsx, no services), the
 * naudiodon addon opened as Steno's capture opens it (48 kHz mono 16-bit,
 * 200 ms PortAudio buffers, 200 ms reads, a native queue of 10), each read
 * written to a raw file with one asynchronous write. No level, no events, no
 * sync, no timers: what any Node program pays to move this device's audio to
 * a file with this binding, before anything Steno does.
 *
 *   node bench/naudiodon-floor.mjs OUT.raw     prints "flowing" at the first read; SIGINT ends it
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node bench/naudiodon-floor.mjs OUT.raw\n');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const root = path.dirname(require.resolve('naudiodon/package.json'));
const addon = require(path.join(root, 'build', 'Release', 'naudiodon.node'));
const RATE = 48_000;
const BYTES_PER_READ = (RATE / 5) * 2;
const io = addon.create({
  inOptions: {
    channelCount: 1,
    sampleFormat: 16,
    sampleRate: RATE,
    deviceId: -1,
    closeOnError: false,
    framesPerBuffer: RATE / 5,
    maxQueue: 10,
  },
});
const fd = fs.openSync(out, 'wx');
let position = 0;
let reads = 0;
let pendingWrites = 0;
let stopping = false;
const closeWhenWritten = () => {
  if (pendingWrites > 0) return;
  fs.closeSync(fd);
  process.stdout.write(`bytes ${position}\n`);
  process.exit(0);
};
io.start();
const readNext = () => {
  io.read(BYTES_PER_READ).then((r) => {
    if (r.err) throw r.err;
    if (r.buf && r.buf.length > 0) {
      pendingWrites++;
      fs.write(fd, r.buf, 0, r.buf.length, position, (err) => {
        if (err) throw err;
        pendingWrites--;
        if (stopping) closeWhenWritten();
      });
      position += r.buf.length;
      if (++reads === 1) process.stdout.write('flowing\n');
    }
    if (r.finished || stopping) return;
    readNext();
  });
};
readNext();
process.on('SIGINT', () => {
  stopping = true;
  void io.quit('WAIT').then(closeWhenWritten);
});
