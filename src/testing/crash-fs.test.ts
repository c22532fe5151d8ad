import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeFileSystem, writeFully, type FileSystemLayer } from '../main/fs-layer';
import { CrashingFileSystem, PowerLossFileSystem } from './crash-fs';
import { makeTempDir, removeTempDir } from './tmp';

let dir: string;
let file: string;
beforeEach(() => {
  dir = makeTempDir('steno-crashfs-');
  file = path.join(dir, 'f.bin');
});
afterEach(() => removeTempDir(dir));

const put = (fsl: FileSystemLayer, fd: number, text: string, at: number) =>
  writeFully(fsl, fd, Buffer.from(text, 'latin1'), at);
const onDisk = () => fs.readFileSync(file, 'latin1');

describe('PowerLossFileSystem', () => {
  it('a cut leaves exactly what the last fdatasync covered: overwrites undone, the tail cut off', async () => {
    const power = new PowerLossFileSystem(nodeFileSystem);
    const fd = await power.open(file, 'wx+');
    await put(power, fd, 'AAAA', 0);
    await power.fdatasync(fd);
    await put(power, fd, 'BB', 1);
    await put(power, fd, 'CCCC', 4);
    expect(onDisk()).toBe('ABBACCCC');
    expect(power.journalHeldBytes).toBe(2);
    const [report] = await power.powerCut();
    expect(report).toEqual({ path: file, durableBytes: 4, discardedBytes: 4, restoredBytes: 2 });
    expect(onDisk()).toBe('AAAA');
    // The power is gone: later writes are lost without an error.
    await put(power, fd, 'ZZ', 0);
    await power.fdatasync(fd);
    expect(onDisk()).toBe('AAAA');
    await power.close(fd);
  });

  it('a completed fdatasync makes an overwrite durable and empties the journal', async () => {
    const power = new PowerLossFileSystem(nodeFileSystem);
    const fd = await power.open(file, 'wx+');
    await put(power, fd, 'AAAA', 0);
    await power.fdatasync(fd);
    await put(power, fd, 'BB', 1);
    await power.fdatasync(fd);
    expect(power.journalHeldBytes).toBe(0);
    await put(power, fd, 'DD', 4);
    await power.close(fd);
    await power.powerCut();
    expect(onDisk()).toBe('ABBA');
  });

  it('a truncation below the durable length is undone', async () => {
    const power = new PowerLossFileSystem(nodeFileSystem);
    const fd = await power.open(file, 'wx+');
    await put(power, fd, 'ABCDEF', 0);
    await power.fdatasync(fd);
    await power.ftruncate(fd, 2);
    expect(onDisk()).toBe('AB');
    await power.powerCut();
    expect(onDisk()).toBe('ABCDEF');
    await power.close(fd);
  });

  it('an fdatasync that has not returned when the power goes makes nothing durable', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slowSync: FileSystemLayer = {
      ...nodeFileSystem,
      fdatasync: async (fd) => {
        await gate;
        await nodeFileSystem.fdatasync(fd);
      },
    };
    const power = new PowerLossFileSystem(slowSync);
    const fd = await power.open(file, 'wx+');
    await put(power, fd, 'AAAA', 0);
    const syncing = power.fdatasync(fd);
    const cutting = power.powerCut();
    release();
    await syncing;
    await cutting;
    expect(onDisk()).toBe('');
    await power.close(fd);
  });

  it('fails loudly past its caps, at the write and again at the cut', async () => {
    const power = new PowerLossFileSystem(nodeFileSystem, {
      maxJournalBytes: 1,
      maxUnsyncedBytes: 8,
    });
    const fd = await power.open(file, 'wx+');
    await put(power, fd, 'AAAA', 0);
    await power.fdatasync(fd);
    await expect(put(power, fd, 'BB', 0)).rejects.toThrow(/journal would hold 2 bytes/);
    await expect(power.powerCut()).rejects.toThrow(/journal would hold 2 bytes/);
    await power.close(fd);

    const other = new PowerLossFileSystem(nodeFileSystem, { maxUnsyncedBytes: 8 });
    const fd2 = await other.open(path.join(dir, 'g.bin'), 'wx+');
    await put(other, fd2, 'A'.repeat(8), 0);
    await expect(put(other, fd2, 'B', 8)).rejects.toThrow(/9 bytes would be unsynced/);
    await other.close(fd2);
    await expect(other.powerCut()).rejects.toThrow(/unsynced/);
  });
});

describe('CrashingFileSystem', () => {
  it("'during': part of the write lands, the caller is told all did, every later op is lost", async () => {
    const crash = new CrashingFileSystem(nodeFileSystem, {
      at: (op) => op.kind === 'write' && op.region === 'data' && op.endBefore >= 84,
      when: 'during',
      partialBytes: 3,
    });
    const fd = await crash.open(file, 'wx+');
    await put(crash, fd, 'H'.repeat(80), 0);
    await crash.fdatasync(fd);
    await put(crash, fd, 'dddd', 80);
    expect(crash.crashed).toBe(false);
    expect(await crash.write(fd, Buffer.from('eeee'), 0, 4, 84)).toBe(4);
    expect(crash.crashed).toBe(true);
    await crash.fdatasync(fd);
    await put(crash, fd, 'X', 0);
    await crash.ftruncate(fd, 0);
    await crash.close(fd);
    expect(onDisk()).toBe('H'.repeat(80) + 'dddd' + 'eee');
    expect(crash.lostOps).toBe(3);
    expect(crash.report(file)).toEqual({ landedEnd: 87, syncedEnd: 80 });
    expect(crash.log.map((op) => [op.kind, op.region, op.headerWritesSinceSync])).toEqual([
      ['write', 'header', 0],
      ['fdatasync', null, 1],
      ['write', 'data', 0],
      ['write', 'data', 0],
    ]);
  });

  it("'before' loses the chosen op, 'after' keeps it; onCrash runs at the crash", async () => {
    for (const when of ['before', 'after'] as const) {
      const target = path.join(dir, `${when}.bin`);
      const seen: number[] = [];
      const crash = new CrashingFileSystem(nodeFileSystem, {
        at: (op) => op.kind === 'fdatasync',
        when,
        onCrash: (op) => seen.push(op.index),
      });
      const fd = await crash.open(target, 'wx+');
      await put(crash, fd, 'AB', 0);
      await crash.fdatasync(fd);
      await put(crash, fd, 'CD', 2);
      await crash.close(fd);
      expect(fs.readFileSync(target, 'latin1')).toBe('AB');
      expect(seen).toEqual([1]);
      expect(crash.report(target).syncedEnd).toBe(when === 'after' ? 2 : 0);
    }
  });
});
