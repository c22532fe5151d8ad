import { utilityProcess } from 'electron';
import type { HostLauncher } from '../transcription/host-process';
import {
  utilityHostLauncher,
  type UtilityProcessApi,
} from '../transcription/utility-host-launcher';

/**
 * The model-host launcher the app uses: Electron's `utilityProcess.fork`
 * (callable once the app is ready). Everything it does is in
 * utility-host-launcher.ts, which is tested in Node.
 */
export function electronHostLauncher(): HostLauncher {
  const api: UtilityProcessApi = {
    fork: (modulePath, args, options) =>
      utilityProcess.fork(modulePath, args, {
        ...options,
        env: options.env as Record<string, string>,
      }),
  };
  return utilityHostLauncher(api);
}
