#!/usr/bin/env node
/**
 * Builds whisper.cpp's own command-line program (examples/main/main.cpp) from
 * the sources bundled in smart-whisper, compiled exactly like Steno's addon, so
 * parity tests and benchmarks compare Steno against whisper.cpp itself and not
 * against a different version or a different set of vector code paths.
 *
 * "Exactly like the addon" means:
 *   - the same whisper.cpp/ggml sources and defines as smart-whisper's binding.gyp
 *     (read from smart-whisper's dist/build.js, which binding.gyp also asks);
 *   - node-gyp's Release flags (-O3 -fno-omit-frame-pointer -fPIC ..., C++ as
 *     -std=gnu++17 -fno-rtti, no -DNDEBUG) and the preprocessor defines node-gyp
 *     adds that can change library code (_FILE_OFFSET_BITS, ...);
 *   - the SIMD flags the addon was built with, from the stamp that
 *     native/build-whisper.mjs writes (none when the addon is the default build).
 *
 * main.cpp has no flag for whisper_full_params.max_tokens, which Steno uses to
 * cap decoding. Rather than patching the sources, the link wraps
 * whisper_full_parallel (ld --wrap) with a 10-line shim that sets max_tokens
 * from STENO_MAX_TOKENS when it is set and otherwise changes nothing.
 *
 * Output: .cache/whisper-cli/whisper-cli (never committed). A stamp
 * (.cache/whisper-cli/steno-cli.json: flags, smart-whisper version, compiler,
 * sha256 of the binary) makes reruns a no-op; --force rebuilds.
 *
 * Usage: node native/build-whisper-cli.mjs [--force]
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TAG = '[steno:whisper-cli]';
export const CLI_DIR = path.join(repoRoot, '.cache/whisper-cli');
export const CLI_BINARY = path.join(CLI_DIR, 'whisper-cli');
const STAMP = path.join(CLI_DIR, 'steno-cli.json');
/** Bump when this script's flags or shim change, so the stamp no longer matches. */
const RECIPE_VERSION = 2;

/** node-gyp's Release flags for this target (see build/smart-whisper.target.mk of any build). */
const GYP_CFLAGS = [
  '-fPIC',
  '-pthread',
  '-Wall',
  '-Wextra',
  '-Wno-unused-parameter',
  '-m64',
  '-O3',
  '-fno-omit-frame-pointer',
];
const GYP_CXXFLAGS = ['-fno-rtti', '-std=gnu++17'];
/** node-gyp's defines that reach library code (the NODE_*, V8_*, OPENSSL_* ones do not). */
const GYP_DEFINES = [
  '_GLIBCXX_USE_CXX11_ABI=1',
  '_FILE_OFFSET_BITS=64',
  '_LARGEFILE_SOURCE',
  '__STDC_FORMAT_MACROS',
];

const SHIM = `// Written by native/build-whisper-cli.mjs. main.cpp has no --max-tokens flag;
// this wrapper (linked with -Wl,--wrap=whisper_full_parallel) sets
// whisper_full_params.max_tokens from STENO_MAX_TOKENS and changes nothing else.
#include "whisper.h"
#include <cstdlib>

extern "C" int __real_whisper_full_parallel(struct whisper_context * ctx, struct whisper_full_params params,
                                            const float * samples, int n_samples, int n_processors);

extern "C" int __wrap_whisper_full_parallel(struct whisper_context * ctx, struct whisper_full_params params,
                                            const float * samples, int n_samples, int n_processors) {
    const char * v = std::getenv("STENO_MAX_TOKENS");
    if (v != nullptr && *v != '\\0') {
        params.max_tokens = std::atoi(v);
    }
    return __real_whisper_full_parallel(ctx, params, samples, n_samples, n_processors);
}
`;

/**
 * Without _GNU_SOURCE (node-gyp does not define it) ggml.c's NUMA-only code
 * calls the glibc macros CPU_ZERO & co. as undeclared functions. The addon, a
 * shared object, links with them unresolved (nm -D shows "U CPU_ZERO") and
 * never reaches them: that code runs only after ggml_numa_init, which neither
 * the addon nor main.cpp calls. An executable must resolve every symbol, so
 * these stubs stand in for them (and abort if ever reached) rather than
 * compiling ggml.c differently from the addon.
 */
const NUMA_STUBS = `/* Written by native/build-whisper-cli.mjs: see NUMA_STUBS there. */
void abort(void);
${['CPU_ALLOC', 'CPU_ALLOC_SIZE', 'CPU_FREE', 'CPU_SET', 'CPU_SET_S', 'CPU_ZERO', 'CPU_ZERO_S']
  .map((name) => `int ${name}(void) { abort(); return 0; }`)
  .join('\n')}
`;

function smartWhisperDir() {
  return path.dirname(require.resolve('smart-whisper/package.json', { paths: [repoRoot] }));
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

/** SIMD flags of the addon in node_modules: the stamp build-whisper.mjs wrote, or none (default build). */
export function addonSimdFlags() {
  const stamp = readJson(path.join(smartWhisperDir(), 'build/steno-simd.json'));
  return Array.isArray(stamp?.flags) ? stamp.flags : [];
}

function compilerVersion(cc) {
  const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cc} is not available: ${r.error?.message ?? r.stderr}`);
  return r.stdout.split('\n')[0];
}

/** The recipe: everything that determines the binary. The stamp stores it. */
function recipe() {
  const pkg = smartWhisperDir();
  // dist/build.js is what binding.gyp evaluates for its sources, defines and libraries.
  const build = require(path.join(pkg, 'dist/build.js'));
  const split = (s) => String(s).split(/\s+/).filter(Boolean);
  const cc = process.env.CC || 'gcc';
  const cxx = process.env.CXX || 'g++';
  return {
    recipeVersion: RECIPE_VERSION,
    smartWhisperVersion: readJson(path.join(pkg, 'package.json'))?.version ?? 'unknown',
    simdFlags: addonSimdFlags(),
    librarySources: split(build.sources),
    defines: [...GYP_DEFINES, ...split(build.defines)],
    libraries: split(build.libraries).map((l) => l.replace(/^"|"$/g, '')),
    cflags: GYP_CFLAGS,
    cxxflags: GYP_CXXFLAGS,
    cc: `${cc}: ${compilerVersion(cc)}`,
    cxx: `${cxx}: ${compilerVersion(cxx)}`,
    shimSha256: sha256(SHIM + NUMA_STUBS),
  };
}

function stampIsCurrent(r) {
  const stamp = readJson(STAMP);
  if (!stamp || !fs.existsSync(CLI_BINARY)) return false;
  return (
    JSON.stringify(stamp.recipe) === JSON.stringify(r) &&
    stamp.sha256 === sha256(fs.readFileSync(CLI_BINARY))
  );
}

function run(cmd, args, log) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      log.write(out);
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${cmd} ${args.join(' ')} exited with ${code ?? signal}:\n${out.split('\n').slice(-20).join('\n')}`,
          ),
        );
    });
  });
}

/** Runs compile jobs with at most `jobs` at a time; rejects on the first failure after the running ones end. */
async function runPool(tasks, jobs) {
  let next = 0;
  let failure = null;
  const worker = async () => {
    while (next < tasks.length && !failure) {
      const task = tasks[next++];
      try {
        await task();
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  if (failure) throw failure;
}

/** Builds the CLI unless the stamp says the binary was built from this exact recipe. */
export async function ensureWhisperCli({ force = false, log = process.stderr } = {}) {
  const r = recipe();
  if (!force && stampIsCurrent(r)) return { binary: CLI_BINARY, recipe: r, built: false };

  const pkg = smartWhisperDir();
  const objDir = path.join(CLI_DIR, 'obj');
  fs.rmSync(objDir, { recursive: true, force: true });
  fs.mkdirSync(objDir, { recursive: true });
  const shimFile = path.join(objDir, 'steno-max-tokens.cpp');
  fs.writeFileSync(shimFile, SHIM);
  const stubsFile = path.join(objDir, 'steno-numa-stubs.c');
  fs.writeFileSync(stubsFile, NUMA_STUBS);

  const includes = ['whisper.cpp/include', 'whisper.cpp/ggml/include', 'whisper.cpp/examples'].map(
    (d) => `-I${path.join(pkg, d)}`,
  );
  const defines = r.defines.map((d) => `-D${d}`);
  const sources = [
    ...r.librarySources.map((s) => path.join(pkg, s)),
    // What the Makefile's `main` target links besides the library (OBJ_COMMON minus the quantizer helpers).
    path.join(pkg, 'whisper.cpp/examples/common.cpp'),
    path.join(pkg, 'whisper.cpp/examples/grammar-parser.cpp'),
    path.join(pkg, 'whisper.cpp/examples/main/main.cpp'),
    shimFile,
    stubsFile,
  ];
  const cc = process.env.CC || 'gcc';
  const cxx = process.env.CXX || 'g++';
  const logFile = path.join(CLI_DIR, 'build.log');
  const logStream = fs.createWriteStream(logFile);
  const objects = [];
  const started = Date.now();
  log.write(
    `${TAG} compiling whisper.cpp's CLI (${r.simdFlags.join(' ') || 'default flags'}) into ${CLI_DIR}; log: ${logFile}\n`,
  );
  try {
    const tasks = sources.map((src, i) => {
      const obj = path.join(objDir, `${i}-${path.basename(src)}.o`);
      objects.push(obj);
      const isC = src.endsWith('.c');
      const args = [
        ...r.cflags,
        ...(isC ? [] : r.cxxflags),
        ...r.simdFlags,
        ...defines,
        ...includes,
        '-c',
        src,
        '-o',
        obj,
      ];
      return () => run(isC ? cc : cxx, args, logStream);
    });
    await runPool(tasks, os.availableParallelism?.() ?? os.cpus().length);
    const tmp = `${CLI_BINARY}.tmp-${process.pid}`;
    await run(
      cxx,
      [
        '-pthread',
        ...r.simdFlags,
        '-Wl,--wrap=whisper_full_parallel',
        ...objects,
        '-o',
        tmp,
        ...r.libraries,
      ],
      logStream,
    );
    // Prove it runs on this CPU before it replaces a working binary.
    const check = spawnSync(tmp, ['--help'], { encoding: 'utf8' });
    if (check.status !== 0 || !/usage:/i.test(`${check.stdout}${check.stderr}`))
      throw new Error(`built CLI does not run: ${check.stderr || check.signal}`);
    fs.renameSync(tmp, CLI_BINARY);
  } catch (e) {
    fs.rmSync(`${CLI_BINARY}.tmp-${process.pid}`, { force: true });
    throw e;
  } finally {
    logStream.end();
  }
  const stamp = {
    recipe: r,
    sha256: sha256(fs.readFileSync(CLI_BINARY)),
    builtAt: new Date().toISOString(),
  };
  fs.writeFileSync(`${STAMP}.tmp`, `${JSON.stringify(stamp, null, 2)}\n`);
  fs.renameSync(`${STAMP}.tmp`, STAMP);
  // Object files are only useful to this exact build.
  fs.rmSync(objDir, { recursive: true, force: true });
  log.write(`${TAG} built ${CLI_BINARY} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return { binary: CLI_BINARY, recipe: r, built: true };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureWhisperCli({ force: process.argv.includes('--force') }).then(
    (r) =>
      console.log(
        `${TAG} ${r.built ? 'built' : 'up to date'}: ${r.binary} (${r.recipe.simdFlags.join(' ') || 'default flags'})`,
      ),
    (e) => {
      console.error(`${TAG} failed: ${e?.message ?? e}`);
      process.exit(1);
    },
  );
}
