/** `steno devices`: the recorder service's input devices. */
import type { Terminal } from '../main/terminal';
import { call } from '../main/services/service-client';
import { openServiceForCli } from './open-service';

export async function runDevices(
  opts: { json?: string | boolean },
  terminal: Terminal,
): Promise<number> {
  const service = await openServiceForCli(undefined, terminal);
  try {
    const devices = await call(service, 'listDevices', {});
    if (opts.json) {
      terminal.out(JSON.stringify(devices) + '\n');
      return 0;
    }
    if (devices.length === 0) {
      terminal.out('No audio input devices found.\n');
      return 1;
    }
    terminal.out('ID  CHANNELS  RATE    NAME\n');
    for (const d of devices) {
      terminal.out(
        `${String(d.id).padEnd(4)}${String(d.maxInputChannels).padEnd(10)}${String(d.defaultSampleRate).padEnd(8)}${d.name} (${d.hostApi})\n`,
      );
    }
    terminal.out('Record from one with: steno record --device ID\n');
    return 0;
  } finally {
    service.dispose();
  }
}
