import type { App, Session, WebContents, WebFrameMain } from 'electron';
import { toDisposable, type IDisposable } from '../../core/lifecycle';
import { isRendererUrl, type RendererLocation } from './renderer-location';

/**
 * Hardening applied to every web contents the app creates: no new windows, no
 * navigation away from the renderer, no <webview>. Returns a disposable that
 * removes the listener it installed.
 */
export function hardenWebContents(app: App, location: RendererLocation): IDisposable {
  const onCreated = (_event: unknown, contents: WebContents): void => {
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
    contents.on('will-navigate', (event) => {
      if (!isRendererUrl(location, event.url)) event.preventDefault();
    });
    contents.on('will-redirect', (event) => {
      if (!isRendererUrl(location, event.url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
  };
  app.on('web-contents-created', onCreated);
  return toDisposable(() => app.off('web-contents-created', onCreated));
}

/**
 * Steno asks the renderer for no permission: the microphone is captured in the
 * main process (naudiodon), not through getUserMedia. So every request and
 * every check is denied.
 */
export function denyAllPermissions(session: Session): IDisposable {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  return toDisposable(() => {
    session.setPermissionRequestHandler(null);
    session.setPermissionCheckHandler(null);
    session.setDevicePermissionHandler(null);
  });
}

/**
 * The part of Electron's `WebFrameMain` the sender check reads, as a
 * structural type so the IPC layer runs in Node tests with a stand-in.
 */
export interface FrameLike {
  readonly url: string;
  readonly parent: FrameLike | null;
}

/**
 * An IPC message is answered, and an event sent, only when the frame is the
 * top frame of our renderer. A destroyed or navigated-away frame (`null`),
 * a subframe, or any other page is not.
 */
export function isTrustedFrame(
  frame: FrameLike | null | undefined,
  location: RendererLocation,
): boolean {
  return !!frame && frame.parent === null && isRendererUrl(location, frame.url);
}

// Electron's own types must fit the structural ones (checked by tsc only).
type Fits<Actual extends Wanted, Wanted> = Actual;
type _WebFrameMainFits = Fits<WebFrameMain, FrameLike>;
