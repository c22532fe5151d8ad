import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startVirtualMic, stopVirtualMic, type VirtualMicLease } from './virtual-mic-server';

/**
 * `node --import tsx e2e/support/virtual-mic-cli.ts start|stop`: the virtual
 * microphone for a person or a benchmark run, kept up after this command ends
 * (`npm test` brings it up and down by itself, src/testing/global-setup.ts).
 * `start` keeps its lease in a file so that `stop` undoes what it did.
 */
const leaseFile = path.join(
  process.env.XDG_RUNTIME_DIR ?? os.tmpdir(),
  `steno-virtual-mic-${os.userInfo().uid}.json`,
);

async function main(command: string | undefined): Promise<number> {
  if (command === 'start') {
    const lease = await startVirtualMic();
    if (lease.kind === 'unavailable') {
      console.error(`virtual-mic: ${lease.problem}`);
      return 1;
    }
    if (lease.kind === 'already-up') {
      console.log('virtual-mic: already running');
      return 0;
    }
    fs.writeFileSync(leaseFile, JSON.stringify(lease));
    console.log('virtual-mic: steno_mic is the default source (sink steno_sink)');
    return 0;
  }
  if (command === 'stop') {
    if (!fs.existsSync(leaseFile)) {
      console.log('virtual-mic: not started by `start`, nothing to stop');
      return 0;
    }
    await stopVirtualMic(JSON.parse(fs.readFileSync(leaseFile, 'utf8')) as VirtualMicLease);
    fs.rmSync(leaseFile);
    console.log('virtual-mic: stopped');
    return 0;
  }
  console.error('usage: virtual-mic-cli.ts start|stop');
  return 2;
}

process.exitCode = await main(process.argv[2]);
