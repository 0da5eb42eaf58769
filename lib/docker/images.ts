// Local images, built without any registry:
//   rbee-acceptance/base:<hash>  imported from a rootfs tarball made from this machine's Node runtime
//                                (or RBEE_BASE_IMAGE=<ref>, an image already on the engine, e.g. node:20)
//   rbee-acceptance/deps:<hash>  FROM the base, with node_modules and package.json (changes rarely)
//   rbee-acceptance/netkit:<hash> the base rootfs plus this machine's iptables, for the helpers that change a
//                                container's rules from inside its network namespace (netns-exec.ts)
//   rbee-acceptance/app:<hash>   FROM deps, with the services' bundles in /app/dist (lib/stack/bundles.ts);
//                                one image serves every service, chosen by the command: node dist/<kind>.mjs
// Tags are content hashes of everything that went in, so an unchanged tree is never rebuilt.

import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import tarFs from 'tar-fs';
import type Docker from 'dockerode';
import { docker, engineMessage, isNotFound } from './engine.ts';
import { LABEL } from './labels.ts';
import { hashRootfs, modeFor, planIptables, planRootfs, stageRootfs, type RootfsFile } from './rootfs.ts';
import { ensureBundles } from '../stack/bundles.ts';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BASE_REPO = 'rbee-acceptance/base';
export const DEPS_REPO = 'rbee-acceptance/deps';
export const APP_REPO = 'rbee-acceptance/app';
export const NETKIT_REPO = 'rbee-acceptance/netkit';
/** Bumped when the way images are made changes, so old tags are not reused. */
const BUILDER_VERSION = 'rbee-acceptance-images/1';
const DEPS_DOCKERFILE = 'docker/deps.Dockerfile';
const APP_DOCKERFILE = 'docker/app.Dockerfile';
/** What each image adds, relative to the project root. */
const DEPS_ENTRIES = ['node_modules', 'package.json'];
/** Where the app image keeps the services' bundles (the container's command runs node <dir>/<kind>.mjs). */
export const IMAGE_BUNDLE_DIR = 'dist';

export interface ImageResult {
  ref: string;
  id: string;
  /** False when an image with that tag already existed (cache hit). */
  built: boolean;
  /** Wall time of ensure…(), hashing included. */
  ms: number;
}

export interface ImageOptions {
  /** Rebuild even when the tag exists. */
  force?: boolean;
  docker?: Docker;
}

export interface AppImageOptions extends ImageOptions {
  /** Extra project paths copied into /app (e.g. test fixtures); part of the hash. */
  extra?: string[];
  /** Tree to build from (default: this project); tests use a snapshot so concurrent edits cannot race them. */
  root?: string;
  /** Base image to build on; default ensureBaseImage(). */
  base?: string;
}

async function imageId(d: Docker, ref: string): Promise<string | undefined> {
  try {
    return (await d.getImage(ref).inspect()).Id;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Drain an engine progress stream (import/build), failing on the first error message in it. */
async function drain(d: Docker, stream: NodeJS.ReadableStream, what: string): Promise<Array<Record<string, unknown>>> {
  const out = await new Promise<Array<Record<string, unknown>>>((res, rej) =>
    d.modem.followProgress(stream, (err: Error | null, r: Array<Record<string, unknown>>) => (err ? rej(err) : res(r))),
  );
  const bad = out.find((m) => m.error || m.errorDetail);
  if (bad) {
    const log = out
      .map((m) => (typeof m.stream === 'string' ? m.stream : ''))
      .join('')
      .trim()
      .split('\n')
      .slice(-5)
      .join(' | ');
    throw new Error(
      `${what} failed: ${String(bad.error ?? JSON.stringify(bad.errorDetail))}${log ? ` (last output: ${log})` : ''}`,
    );
  }
  return out;
}

const memo = new Map<string, Promise<ImageResult>>();
/**
 * One build per ref per process, even when several stacks start at once. RBEE_BUILD=1 (--build) forces
 * the first build of each image in this process, never every one.
 */
function once(
  key: string,
  force: boolean | undefined,
  make: (force: boolean) => Promise<ImageResult>,
): Promise<ImageResult> {
  const envForce = process.env.RBEE_BUILD === '1' && !memo.has(key);
  if (force) memo.delete(key);
  let p = memo.get(key);
  if (!p) {
    p = make(!!force || envForce);
    p.catch(() => memo.delete(key));
    memo.set(key, p);
  }
  return p;
}

/** The base image: RBEE_BASE_IMAGE as is, or one imported from this machine's Node runtime. */
export function ensureBaseImage(opts: ImageOptions = {}): Promise<ImageResult> {
  return once('base', opts.force, (force) => buildBase({ ...opts, force }));
}

async function buildBase(opts: ImageOptions): Promise<ImageResult> {
  const t0 = performance.now();
  const d = opts.docker ?? docker();
  const configured = process.env.RBEE_BASE_IMAGE;
  if (configured) {
    const id = await imageId(d, configured);
    if (!id)
      throw new Error(
        `RBEE_BASE_IMAGE=${configured} is not on the engine; load or pull it first (the harness never pulls)`,
      );
    return { ref: configured, id, built: false, ms: performance.now() - t0 };
  }
  return importRootfs(d, BASE_REPO, planRootfs(PROJECT_ROOT), opts, t0);
}

/**
 * The netkit image: the base rootfs plus this machine's iptables (rootfs.ts planIptables). A helper from
 * it joins a service's network namespace (NetworkMode container:<id>) to change its rules when the host
 * cannot enter the namespace itself (remote engine, or host shortcuts off; netns-exec.ts).
 */
export function ensureNetkitImage(opts: ImageOptions = {}): Promise<ImageResult & { iptables: string }> {
  return once('netkit', opts.force, async (force) => {
    const t0 = performance.now();
    const iptables = planIptables();
    const byPath = new Map([...planRootfs(PROJECT_ROOT), ...iptables.files].map((f) => [f.path, f]));
    const made = await importRootfs(opts.docker ?? docker(), NETKIT_REPO, [...byPath.values()], { force }, t0);
    return { ...made, iptables: iptables.binary };
  }) as Promise<ImageResult & { iptables: string }>;
}

/** Import `files` as `repo:<content hash>` unless that image exists. */
async function importRootfs(
  d: Docker,
  repo: string,
  files: RootfsFile[],
  opts: ImageOptions,
  t0: number,
): Promise<ImageResult> {
  const ref = `${repo}:${hashRootfs(files, BUILDER_VERSION).slice(0, 16)}`;
  const existing = await imageId(d, ref);
  if (existing && !opts.force) return { ref, id: existing, built: false, ms: performance.now() - t0 };

  const dir = mkdtempSync(join(tmpdir(), 'rbee-rootfs-'));
  try {
    stageRootfs(files, dir);
    const tag = ref.slice(repo.length + 1);
    const stream = await d.importImage(rootfsTar(files, dir), {
      repo,
      tag,
      // Dockerfile instructions applied to the imported layer: no shell exists, so only metadata.
      changes: [`LABEL ${LABEL.owner}=1`, 'ENV PATH=/usr/local/bin:/usr/bin:/bin', 'CMD ["node"]'],
    });
    await drain(d, stream, `importing image ${ref}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const id = await imageId(d, ref);
  if (!id) throw new Error(`image ${ref} was imported but the engine does not list it`);
  return { ref, id, built: true, ms: performance.now() - t0 };
}

/** tar-fs 3 options; the published types (for tar-fs 2) lack `umask` and type the result too narrowly. */
type PackOptions = tarFs.PackOptions & { umask?: number };
function pack(dir: string, opts: PackOptions): NodeJS.ReadableStream {
  return tarFs.pack(dir, opts) as unknown as NodeJS.ReadableStream;
}

function rootfsTar(files: RootfsFile[], dir: string): NodeJS.ReadableStream {
  return pack(dir, {
    umask: 0, // keep /tmp's sticky 1777
    map: (h) => {
      const imagePath = '/' + h.name.replace(/\/$/, '');
      // Root owns everything; modes come from the plan, not from wherever the copy landed.
      return {
        ...h,
        uid: 0,
        gid: 0,
        uname: 'root',
        gname: 'root',
        mode: modeFor(files, imagePath, h.type === 'directory'),
      };
    },
  });
}

/** Walk project entries for the hash: relative path, mode, and bytes (or link target). */
function hashTree(
  root: string,
  entries: string[],
  h = createHash('sha256'),
  rename = (p: string) => p,
): ReturnType<typeof createHash> {
  const visit = (abs: string) => {
    const st = lstatSync(abs);
    const rel = rename(relative(root, abs).split(sep).join('/'));
    if (st.isDirectory()) {
      h.update(`d\0${rel}\0`);
      for (const name of readdirSync(abs).sort()) visit(join(abs, name));
    } else if (st.isSymbolicLink()) {
      h.update(`l\0${rel}\0${readlinkSync(abs)}\0`);
    } else if (st.isFile()) {
      h.update(`f\0${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0`);
      h.update(readFileSync(abs));
    }
  };
  for (const e of entries) visit(join(root, e));
  return h;
}

/**
 * The app image for every service; `extra` paths (e.g. test fixtures) are copied into /app too. Built in
 * two steps so an edit under stack/ ships only stack/ to the engine: a deps image (base + node_modules +
 * package.json) and the app image on top of it (the bundles + extras).
 */
export function ensureAppImage(opts: AppImageOptions = {}): Promise<ImageResult> {
  const configured = process.env.RBEE_APP_IMAGE;
  const key = `app:${opts.root ?? ''}:${opts.base ?? ''}:${(opts.extra ?? []).join(',')}:${configured ?? ''}`;
  return once(key, opts.force, (force) => buildApp({ ...opts, force }));
}

async function buildApp(opts: AppImageOptions): Promise<ImageResult> {
  const t0 = performance.now();
  const d = opts.docker ?? docker();
  const configured = process.env.RBEE_APP_IMAGE;
  if (configured) {
    // Another build of the stack (a real rbee image, a fork): used as is.
    const id = await imageId(d, configured);
    if (!id) throw new Error(`RBEE_APP_IMAGE=${configured} is not on the engine; the harness never pulls`);
    return { ref: configured, id, built: false, ms: performance.now() - t0 };
  }
  const root = opts.root ?? PROJECT_ROOT;
  const base = opts.base ?? (await ensureBaseImage({ docker: d, force: opts.force })).ref;
  const deps = await buildLayer(d, {
    repo: DEPS_REPO,
    from: base,
    root,
    entries: DEPS_ENTRIES,
    dockerfile: DEPS_DOCKERFILE,
    force: opts.force,
  });
  const extra = opts.extra ?? [];
  const bundles = await ensureBundles(root);
  const bundleDir = relative(root, bundles.dir).split(sep).join('/');
  const app = await buildLayer(d, {
    repo: APP_REPO,
    from: deps.ref,
    root,
    entries: [bundleDir, ...extra],
    rename: (name) =>
      name === bundleDir || name.startsWith(`${bundleDir}/`) ? IMAGE_BUNDLE_DIR + name.slice(bundleDir.length) : name,
    dockerfile: APP_DOCKERFILE,
    append: extra.map((p) => `COPY ${p} /app/${p}\n`).join(''),
    force: opts.force,
  });
  return { ...app, built: app.built || deps.built, ms: performance.now() - t0 };
}

interface LayerSpec {
  repo: string;
  /** Image to build FROM (passed as the BASE build arg). */
  from: string;
  root: string;
  /** Paths under root that go into the build context. */
  entries: string[];
  /** Dockerfile under root, and lines appended to it. */
  dockerfile: string;
  append?: string;
  /** Renames a path of the context (e.g. the bundle dir to dist/); the hash sees the renamed paths. */
  rename?: (path: string) => string;
  force?: boolean;
}

/** Build `repo:<hash>` unless it exists; the hash covers the FROM image id, the Dockerfile and the files. */
async function buildLayer(d: Docker, l: LayerSpec): Promise<ImageResult> {
  const t0 = performance.now();
  const fromId = await imageId(d, l.from);
  if (!fromId) throw new Error(`image ${l.from} is not on the engine`);
  const dockerfile = readFileSync(join(l.root, l.dockerfile), 'utf8') + (l.append ?? '');
  const h = createHash('sha256').update(`${BUILDER_VERSION}\0${fromId}\0${dockerfile}\0`);
  const hash = hashTree(l.root, l.entries, h, l.rename).digest('hex');
  const ref = `${l.repo}:${hash.slice(0, 16)}`;
  const existing = await imageId(d, ref);
  if (existing && !l.force) return { ref, id: existing, built: false, ms: performance.now() - t0 };

  const context = pack(l.root, {
    entries: l.entries,
    umask: 0o022,
    finalize: false,
    // Files belong to root inside the image: the service user can read them but not change its own code.
    map: (hd) => ({
      ...hd,
      name: l.rename ? l.rename(hd.name) : hd.name,
      uid: 0,
      gid: 0,
      uname: 'root',
      gname: 'root',
    }),
    finish: (p) => {
      p.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfile);
      p.finalize();
    },
  });
  try {
    const stream = await d.buildImage(context, {
      t: ref,
      buildargs: { BASE: l.from },
      labels: { [LABEL.owner]: '1', [LABEL.hash]: hash },
      rm: true,
      forcerm: true,
      nocache: !!l.force,
    });
    await drain(d, stream, `building ${ref}`);
  } catch (e) {
    throw new Error(`building image ${ref}: ${engineMessage(e)}`);
  }
  const id = await imageId(d, ref);
  if (!id) throw new Error(`image ${ref} was built but the engine does not list it`);
  return { ref, id, built: true, ms: performance.now() - t0 };
}

/** Remove harness images other than `keep` (for `--down --images`); returns the refs removed. */
export async function removeImages(keep: string[] = [], d: Docker = docker()): Promise<string[]> {
  const removed: string[] = [];
  for (const img of await d.listImages({ filters: { label: [`${LABEL.owner}=1`] } })) {
    const tags = img.RepoTags ?? [];
    if (tags.some((t) => keep.includes(t))) continue;
    try {
      await d.getImage(img.Id).remove({ force: true });
      removed.push(tags[0] ?? img.Id);
    } catch (e) {
      if (!isNotFound(e)) throw new Error(`removing image ${tags[0] ?? img.Id}: ${engineMessage(e)}`);
    }
  }
  return removed;
}
