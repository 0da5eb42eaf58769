// The reference services as prebuilt JavaScript: one esbuild bundle per service, so a service process
// starts in plain `node` instead of paying ~1 CPU-second of tsx transpiling at every start (and a
// scenario starts dozens). Bundles live in .cache/bundles/<hash>/, where the hash covers every input
// (the stack's sources, the lockfile, esbuild's version and the options), so an unchanged tree is never
// rebuilt and a changed one always is.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceKind } from './services.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Bumped when the way bundles are made changes, so old ones are not reused. */
const BUNDLER_VERSION = 'rbee-bundles/2';
/** Bundle dirs kept beside the current one (older trees' bundles, for runs still using them). */
const KEEP_OLD = 4;

/** Packages left out of the bundles (native addons), resolved from node_modules at run time. */
const NATIVE_PACKAGES = ['better-sqlite3'];

export const SERVICE_KINDS: readonly ServiceKind[] = ['hub', 'queen', 'hive', 'worker'];

/** Entry module of each service, relative to the project root. */
export function entryOf(kind: ServiceKind): string {
  return `stack/${kind}/main.ts`;
}

/** File name of a service's bundle, the same in the process runtime's cache and in the app image. */
export function bundleName(kind: ServiceKind): string {
  return `${kind}.mjs`;
}

export interface Bundles {
  /** Directory holding <kind>.mjs for every service. */
  dir: string;
  hash: string;
  /** False when the bundles for this hash already existed. */
  built: boolean;
  ms: number;
  /** Absolute path of a service's bundle. */
  path(kind: ServiceKind): string;
}

/** Hash of everything a bundle is made from: stack/ sources, lockfile, esbuild version, options. */
export function bundleHash(root = ROOT): string {
  const h = createHash('sha256').update(`${BUNDLER_VERSION}\0${esbuildVersion()}\0`);
  const visit = (abs: string) => {
    const st = fs.statSync(abs);
    const rel = path.relative(root, abs);
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(abs).sort()) visit(path.join(abs, name));
    } else if (/\.(ts|mjs|js|json)$/.test(abs)) {
      h.update(`f\0${rel}\0`).update(fs.readFileSync(abs));
    }
  };
  visit(path.join(root, 'stack'));
  const lock = path.join(root, 'package-lock.json');
  if (fs.existsSync(lock)) h.update('lock\0').update(fs.readFileSync(lock));
  return h.digest('hex').slice(0, 16);
}

function esbuildVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/esbuild/package.json'), 'utf8')).version;
}

const memo = new Map<string, Promise<Bundles>>();

/**
 * The bundles of the tree at `root`, built if their inputs changed. Safe to call from several processes
 * at once: each builds into its own temp dir and renames it into place; the first rename wins.
 */
export function ensureBundles(root = ROOT): Promise<Bundles> {
  let p = memo.get(root);
  if (!p) {
    p = buildBundles(root);
    p.catch(() => memo.delete(root));
    memo.set(root, p);
  }
  return p;
}

async function buildBundles(root: string): Promise<Bundles> {
  const t0 = performance.now();
  const hash = bundleHash(root);
  const cache = path.join(root, '.cache', 'bundles');
  const dir = path.join(cache, hash);
  const result = (built: boolean): Bundles => ({
    dir,
    hash,
    built,
    ms: performance.now() - t0,
    path: (k) => path.join(dir, bundleName(k)),
  });
  if (complete(dir)) return result(false);

  fs.mkdirSync(cache, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(cache, `.tmp-${process.pid}-`));
  fs.chmodSync(tmp, 0o755); // the docker image's unprivileged service user reads it
  try {
    const esbuild = await import('esbuild');
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: Object.fromEntries(SERVICE_KINDS.map((k) => [k, entryOf(k)])),
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // npm packages are bundled too: resolving and evaluating undici's or prom-client's hundreds of
      // modules was a third of a service's start-up CPU. Only the native addon stays outside.
      external: NATIVE_PACKAGES,
      // Bundled CommonJS packages call require() for Node's built-ins; give the ES module one.
      banner: {
        js: "import { createRequire as __rbeeCreateRequire } from 'node:module'; const require = __rbeeCreateRequire(import.meta.url);",
      },
      sourcemap: 'linked', // <kind>.mjs.map beside each bundle, for `node --enable-source-maps`
      logLevel: 'silent',
    });
    fs.writeFileSync(path.join(tmp, 'COMPLETE'), `${hash}\n`);
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another process renamed its identical bundles into place first.
      if (!complete(dir)) throw e;
    }
  } catch (e) {
    throw new Error(
      `bundling the reference services (esbuild): ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  pruneOld(cache, hash);
  return result(true);
}

function complete(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'COMPLETE'));
}

/** Keep the newest few bundle dirs; a run of an older tree may still be using one. */
function pruneOld(cache: string, current: string): void {
  const dirs = fs
    .readdirSync(cache)
    .filter((n) => n !== current && !n.startsWith('.tmp-'))
    .map((n) => ({ n, t: fs.statSync(path.join(cache, n)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { n } of dirs.slice(KEEP_OLD)) fs.rmSync(path.join(cache, n), { recursive: true, force: true });
}
