/**
 * Whether a process with this pid exists. Signal 0 checks without sending
 * anything; EPERM means it exists but belongs to another user.
 */
export function isProcessAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
