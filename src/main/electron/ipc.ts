import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import { IpcChannel, type AppInfo } from '../../preload/api';
import { toDisposable, type IDisposable } from '../../core/lifecycle';
import type { RendererLocation } from './renderer-location';
import { assertTrustedSender } from './security';

/**
 * Registers one `ipcMain.handle` whose sender is checked before its payload and
 * whose payload is checked before the handler runs. `parse` turns the raw
 * arguments into the handler's input or throws.
 */
function handle<Args, Result>(
  ipcMain: IpcMain,
  location: RendererLocation,
  channel: IpcChannel,
  parse: (args: readonly unknown[]) => Args,
  handler: (args: Args) => Result | Promise<Result>,
): IDisposable {
  ipcMain.handle(channel, (event: IpcMainInvokeEvent, ...args: unknown[]) => {
    assertTrustedSender(event, location);
    return handler(parse(args));
  });
  return toDisposable(() => ipcMain.removeHandler(channel));
}

function noArguments(channel: IpcChannel) {
  return (args: readonly unknown[]): void => {
    if (args.length !== 0) throw new Error(`${channel} takes no arguments, got ${args.length}`);
  };
}

export function registerIpcHandlers(
  ipcMain: IpcMain,
  location: RendererLocation,
  appInfo: () => AppInfo,
): IDisposable {
  return handle(ipcMain, location, IpcChannel.appInfo, noArguments(IpcChannel.appInfo), appInfo);
}
