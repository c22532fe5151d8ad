#!/usr/bin/env node
/**
 * Rebuilds smart-whisper's native addon with the host CPU's SIMD flags.
 *
 * Why: smart-whisper's binding.gyp compiles whisper.cpp/ggml with node-gyp's
 * default flags (-O3, no -m options). ggml picks its vector code paths at
 * compile time from the compiler's predefined macros (__AVX2__, __FMA__,
 * __F16C__, __SSE3__, __AVX512F__ ... in ggml.c, ggml-quants.c,
 * ggml-cpu-impl.h), not at run time, and no GGML_* define turns them on: the
 * default build runs scalar code and is about ten times slower. Passing -m
 * flags through CFLAGS/CXXFLAGS (node-gyp's Makefile appends them to every
 * compile) is all that is needed.
 *
 * Usage:
 *   node native/build-whisper.mjs                 postinstall: SIMD build into node_modules/smart-whisper
 *   node native/build-whisper.mjs --force         rebuild even when the stamp says it is current
 *   node native/build-whisper.mjs --out-dir DIR --default
 *                                                 build a copy with the default flags into DIR
 *                                                 (DIR/build/Release/smart-whisper.node), for comparison
 *   node native/build-whisper.mjs --out-dir DIR   the same with SIMD flags, leaving node_modules alone
 *
 * The in-place build compiles in a staging directory and then renames the new
 * .node over the old one, so processes that use the addon meanwhile never see
 * a missing or half-written file. A stamp (build/steno-simd.json: flags,
 * smart-whisper version, sha256 of the .node) makes reruns a no-op. Failure
 * keeps the default build and exits 0 with a warning, unless
 * STENO_REQUIRE_SIMD=1 (then exit 1). STENO_SIMD=off skips the rebuild.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { findNodeGyp, nodedirArgs } from './node-gyp-offline.mjs';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TAG = '[steno:whisper-simd]';
const STAMP = 'steno-simd.json';

/**
 * /proc/cpuinfo feature name -> gcc/clang flag. Only features that ggml's
 * sources test for; `pni` is how Linux spells SSE3. Order is the order on the
 * command line, which the stamp compares.
 */
const X86_FEATURE_FLAGS = [
  ['pni', '-msse3'],
  ['ssse3', '-mssse3'],
  ['avx', '-mavx'],
  ['avx2', '-mavx2'],
  ['fma', '-mfma'],
  ['f16c', '-mf16c'],
  ['avx_vnni', '-mavxvnni'],
  ['avx512f', '-mavx512f'],
  ['avx512dq', '-mavx512dq'],
  ['avx512bw', '-mavx512bw'],
  ['avx512vl', '-mavx512vl'],
  ['avx512_vnni', '-mavx512vnni'],
  ['avx512vbmi', '-mavx512vbmi'],
  ['avx512_bf16', '-mavx512bf16'],
];

/**
 * Compiler flags for this CPU, or null when there is no SIMD rebuild to do
 * here (not Linux x86-64: macOS uses Accelerate/Metal, arm64 has NEON by
 * default, Windows has no /proc/cpuinfo and MSVC takes other flags).
 * STENO_SIMD=avx2 leaves out the AVX-512 family (some CPUs clock down with it).
 */
export function detectSimdFlags(cpuinfo = readCpuinfo(), arch = process.arch) {
  if (arch !== 'x64' || cpuinfo === null) return null;
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  if (!line) return null;
  const have = new Set(
    line
      .replace(/^flags\s*:/, '')
      .trim()
      .split(/\s+/),
  );
  const noAvx512 = process.env.STENO_SIMD === 'avx2';
  return X86_FEATURE_FLAGS.filter(
    ([feature, flag]) => have.has(feature) && !(noAvx512 && flag.startsWith('-mavx512')),
  ).map(([, flag]) => flag);
}

function readCpuinfo() {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
}

export function smartWhisperDir() {
  return path.dirname(require.resolve('smart-whisper/package.json', { paths: [repoRoot] }));
}

export function sha256File(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** The stamp is current when flags and package version match and the .node is the one we built. */
function stampIsCurrent(stampFile, nodeFile, flags, version) {
  const stamp = readJson(stampFile);
  if (!stamp || !fs.existsSync(nodeFile)) return false;
  return (
    stamp.flags.join(' ') === flags.join(' ') &&
    stamp.smartWhisperVersion === version &&
    stamp.sha256 === sha256File(nodeFile)
  );
}

/**
 * Compiles smart-whisper into `stageDir` with extra `flags` (empty = default
 * build). The stage holds a copy of binding.gyp and symlinks to the package's
 * sources, so node_modules is not touched. Returns the built .node path.
 */
export function buildInStage(stageDir, flags, { log = process.stderr } = {}) {
  const pkg = smartWhisperDir();
  // The stage is wiped first: refuse a directory that holds anything but a previous stage.
  const ours = new Set([
    'binding.gyp',
    'package.json',
    'src',
    'dist',
    'whisper.cpp',
    'node_modules',
    'build',
    'build.log',
    STAMP,
    `${STAMP}.tmp`,
  ]);
  const foreign = fs.existsSync(stageDir)
    ? fs.readdirSync(stageDir).filter((f) => !ours.has(f))
    : [];
  if (foreign.length)
    throw new Error(
      `refusing to build in ${stageDir}: it holds other files (${foreign.slice(0, 3).join(', ')})`,
    );
  fs.rmSync(stageDir, { recursive: true, force: true });
  fs.mkdirSync(stageDir, { recursive: true });
  for (const f of ['binding.gyp', 'package.json'])
    fs.copyFileSync(path.join(pkg, f), path.join(stageDir, f));
  for (const d of ['src', 'dist', 'whisper.cpp'])
    fs.symlinkSync(path.join(pkg, d), path.join(stageDir, d), 'dir');
  // binding.gyp runs `node -p "require('node-addon-api')"` in the stage directory.
  const addonApi = path.dirname(require.resolve('node-addon-api/package.json', { paths: [pkg] }));
  fs.mkdirSync(path.join(stageDir, 'node_modules'));
  fs.symlinkSync(addonApi, path.join(stageDir, 'node_modules/node-addon-api'), 'dir');

  const extra = flags.join(' ');
  const env = { ...process.env };
  // A default build must match what npm produced: no inherited flags either.
  env.CFLAGS = flags.length ? `${process.env.CFLAGS ?? ''} ${extra}`.trim() : '';
  env.CXXFLAGS = flags.length ? `${process.env.CXXFLAGS ?? ''} ${extra}`.trim() : '';
  const logFile = path.join(stageDir, 'build.log');
  const out = fs.openSync(logFile, 'w');
  try {
    const args = [
      findNodeGyp(),
      'rebuild',
      '--release',
      `--jobs=${os.availableParallelism?.() ?? os.cpus().length}`,
      ...nodedirArgs(),
    ];
    log.write(
      `${TAG} compiling whisper.cpp (${extra || 'default flags'}) in ${stageDir}; log: ${logFile}\n`,
    );
    const r = spawnSync(process.execPath, args, {
      cwd: stageDir,
      env,
      stdio: ['ignore', out, out],
    });
    if (r.status !== 0) {
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(
        `node-gyp exited with ${r.status ?? r.signal}; last lines of ${logFile}:\n${tail}`,
      );
    }
  } finally {
    fs.closeSync(out);
  }
  const built = path.join(stageDir, 'build/Release/smart-whisper.node');
  // Loading the addon (no model) proves it links and its initialisers run on this CPU.
  const check = spawnSync(
    process.execPath,
    ['-e', `require(${JSON.stringify(built)}).transcribe.call`],
    { stdio: 'pipe' },
  );
  if (check.status !== 0)
    throw new Error(`built addon does not load: ${check.stderr.toString().trim() || check.signal}`);
  return built;
}

function version() {
  return readJson(path.join(smartWhisperDir(), 'package.json'))?.version ?? 'unknown';
}

/** Builds into `outDir` (kept: the caller loads DIR/build/Release/smart-whisper.node), unless its stamp is current. */
export function ensureBuildInDir(outDir, flags, { force = false } = {}) {
  const nodeFile = path.join(outDir, 'build/Release/smart-whisper.node');
  const stampFile = path.join(outDir, STAMP);
  if (!force && stampIsCurrent(stampFile, nodeFile, flags, version()))
    return { nodeFile, flags, built: false };
  buildInStage(outDir, flags);
  writeStamp(stampFile, nodeFile, flags);
  return { nodeFile, flags, built: true };
}

function writeStamp(stampFile, nodeFile, flags) {
  const stamp = {
    flags,
    smartWhisperVersion: version(),
    sha256: sha256File(nodeFile),
    builtAt: new Date().toISOString(),
  };
  fs.writeFileSync(`${stampFile}.tmp`, `${JSON.stringify(stamp, null, 2)}\n`);
  fs.renameSync(`${stampFile}.tmp`, stampFile);
}

/** Postinstall: SIMD build swapped into node_modules/smart-whisper atomically. */
export function ensureSimdInstalled({ force = false } = {}) {
  if (process.env.STENO_SIMD === 'off') return { status: 'skipped', reason: 'STENO_SIMD=off' };
  const flags = detectSimdFlags();
  if (!flags)
    return { status: 'skipped', reason: `no SIMD rebuild for ${process.platform}/${process.arch}` };
  if (flags.length === 0)
    return { status: 'skipped', reason: 'the CPU reports none of the SIMD features ggml uses' };
  const pkg = smartWhisperDir();
  const nodeFile = path.join(pkg, 'build/Release/smart-whisper.node');
  const stampFile = path.join(pkg, 'build', STAMP);
  if (!force && stampIsCurrent(stampFile, nodeFile, flags, version()))
    return { status: 'current', flags };
  const stage = path.join(repoRoot, '.cache/whisper-build/simd');
  const built = buildInStage(stage, flags);
  fs.mkdirSync(path.dirname(nodeFile), { recursive: true });
  fs.copyFileSync(built, `${nodeFile}.tmp`);
  fs.renameSync(`${nodeFile}.tmp`, nodeFile);
  writeStamp(stampFile, nodeFile, flags);
  // Object files are ~100 MB and only useful for this exact build.
  fs.rmSync(stage, { recursive: true, force: true });
  return { status: 'built', flags };
}

function main(argv) {
  const force = argv.includes('--force');
  const outIdx = argv.indexOf('--out-dir');
  const started = Date.now();
  const secs = () => ((Date.now() - started) / 1000).toFixed(0);
  if (outIdx >= 0) {
    const outDir = path.resolve(argv[outIdx + 1] ?? '');
    const flags = argv.includes('--default') ? [] : (detectSimdFlags() ?? []);
    const r = ensureBuildInDir(outDir, flags, { force });
    console.log(
      `${TAG} ${r.built ? `built in ${secs()} s` : 'up to date'}: ${r.nodeFile} (${flags.join(' ') || 'default flags'})`,
    );
    return;
  }
  try {
    const r = ensureSimdInstalled({ force });
    if (r.status === 'skipped')
      console.log(`${TAG} skipped (${r.reason}); smart-whisper's build left as it is`);
    else if (r.status === 'current')
      console.log(`${TAG} smart-whisper already built with ${r.flags.join(' ')}`);
    else console.log(`${TAG} rebuilt smart-whisper with ${r.flags.join(' ')} in ${secs()} s`);
  } catch (e) {
    const msg = `${TAG} WARNING: SIMD rebuild of smart-whisper failed; keeping the default build (about 10x slower transcription).\n${e?.message ?? e}`;
    console.error(msg);
    if (process.env.STENO_REQUIRE_SIMD === '1') process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main(process.argv.slice(2));
