/** A process tree read from /proc: for benchmarks and tests that count what a process left. */
import fs from 'node:fs';

/** RSS of a process from /proc, bytes (0 when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Pids of all descendants of `pid`, read from /proc directly (running `ps`
 * would itself be a descendant).
 */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The command name may contain spaces and parentheses: ppid follows the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(entry));
  }
  const result: number[] = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    result.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return result;
}

/** RSS of a process and all its descendants, bytes. */
export function treeRss(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + rssOf(p), 0);
}
