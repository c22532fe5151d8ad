import { spawn } from 'node:child_process';
import { toDisposable, type IDisposable } from '../../src/core/lifecycle';
import { makeTempDir, removeTempDir } from '../../src/testing/tmp';

/** A real small file system (tmpfs) that this process and its children can write to. */
export interface SmallFs extends IDisposable {
  /** The file system's root, as a path this process and any child can open. */
  readonly dir: string;
}

/**
 * Mounts a tmpfs (`options`, e.g. `size=400k` or `size=1m,ro`) without root:
 * inside a user and mount namespace of its own (`unshare -rm`, the same for
 * root and an ordinary user), held by one small process. Anything outside the
 * namespace reaches the file system through that process's root,
 * `/proc/<pid>/root/<mount point>`, so a CLI under test needs no wrapper and
 * sees real ENOSPC and EROFS. The holder reads its stdin, so it ends (and the
 * file system with it) when this process ends, even without `dispose`.
 */
export function mountSmallFs(options: string): Promise<SmallFs> {
  const mountPoint = makeTempDir('steno-small-fs-');
  const holder = spawn(
    'unshare',
    [
      '--user',
      '--map-root-user',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs -o "$1" tmpfs "$2" && echo mounted && exec cat >/dev/null',
      'sh',
      options,
      mountPoint,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  holder.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const end = (): void => {
    holder.stdin.end();
    holder.kill('SIGTERM');
    removeTempDir(mountPoint);
  };
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      end();
      reject(
        new Error(
          `the disk tests mount a small tmpfs in a user and mount namespace (\`unshare -rm\`, util-linux), which failed (${why}): ` +
            'allow unprivileged user namespaces (on Ubuntu 24.04: sysctl kernel.apparmor_restrict_unprivileged_userns=0) or run as root',
        ),
      );
    };
    holder.on('error', (e) => fail(e.message));
    holder.on('exit', (code) => fail(stderr.trim() || `unshare exited with ${code}`));
    holder.stdout.once('data', () => {
      holder.removeAllListeners('exit');
      holder.removeAllListeners('error');
      const owner = toDisposable(end);
      resolve({ dir: `/proc/${holder.pid}/root${mountPoint}`, dispose: () => owner.dispose() });
    });
  });
}
