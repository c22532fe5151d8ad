import { listDevices } from '../main/capture/naudiodon-capture';

export function runDevices(opts: { json?: string | boolean }): number {
  const devices = listDevices();
  if (opts.json) {
    process.stdout.write(JSON.stringify(devices) + '\n');
    return 0;
  }
  if (devices.length === 0) {
    process.stdout.write('No audio input devices found.\n');
    return 1;
  }
  process.stdout.write('ID  CHANNELS  RATE    NAME\n');
  for (const d of devices) {
    process.stdout.write(
      `${String(d.id).padEnd(4)}${String(d.maxInputChannels).padEnd(10)}${String(d.defaultSampleRate).padEnd(8)}${d.name} (${d.hostApi})\n`,
    );
  }
  process.stdout.write('Record from one with: steno record --device ID\n');
  return 0;
}
