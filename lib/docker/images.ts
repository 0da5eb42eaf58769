// Local images, built without any registry:
//   rbee-acceptance/base:<hash>  imported from a rootfs tarball made from this machine's Node runtime
//                                (or RBEE_BASE_IMAGE=<ref>, an image already on the engine, e.g. node:20)
//   rbee-acceptance/app:<hash>   FROM the base, with stack/, package.json and node_modules; one image
//                                serves every service, chosen by the command.
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
import { hashRootfs, modeFor, planRootfs, stageRootfs, type RootfsFile } from './rootfs.ts';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BASE_REPO = 'rbee-acceptance/base';
export const APP_REPO = 'rbee-acceptance/app';
/** Bumped when the way images are made changes, so old tags are not reused. */
const BUILDER_VERSION = 'rbee-acceptance-images/1';
const APP_DOCKERFILE = 'docker/app.Dockerfile';
/** What the app image holds, relative to the project root. */
const APP_ENTRIES = ['node_modules', 'package.json', 'stack'];

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
    const log = out.map((m) => (typeof m.stream === 'string' ? m.stream : '')).join('').trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${what} failed: ${String(bad.error ?? JSON.stringify(bad.errorDetail))}${log ? ` (last output: ${log})` : ''}`);
  }
  return out;
}

const memo = new Map<string, Promise<ImageResult>>();
/** One build per ref per process, even when several stacks start at once. */
function once(key: string, force: boolean | undefined, make: () => Promise<ImageResult>): Promise<ImageResult> {
  if (force) memo.delete(key);
  let p = memo.get(key);
  if (!p) {
    p = make();
    p.catch(() => memo.delete(key));
    memo.set(key, p);
  }
  return p;
}

/** The base image: RBEE_BASE_IMAGE as is, or one imported from this machine's Node runtime. */
export function ensureBaseImage(opts: ImageOptions = {}): Promise<ImageResult> {
  return once('base', opts.force, () => buildBase(opts));
}

async function buildBase(opts: ImageOptions): Promise<ImageResult> {
  const t0 = performance.now();
  const d = opts.docker ?? docker();
  const configured = process.env.RBEE_BASE_IMAGE;
  if (configured) {
    const id = await imageId(d, configured);
    if (!id) throw new Error(`RBEE_BASE_IMAGE=${configured} is not on the engine; load or pull it first (the harness never pulls)`);
    return { ref: configured, id, built: false, ms: performance.now() - t0 };
  }
  const files = planRootfs(PROJECT_ROOT);
  const ref = `${BASE_REPO}:${hashRootfs(files, BUILDER_VERSION).slice(0, 16)}`;
  const existing = await imageId(d, ref);
  if (existing && !opts.force) return { ref, id: existing, built: false, ms: performance.now() - t0 };

  const dir = mkdtempSync(join(tmpdir(), 'rbee-rootfs-'));
  try {
    stageRootfs(files, dir);
    const [repo, tag] = ref.split(':') as [string, string];
    const stream = await d.importImage(rootfsTar(files, dir), {
      repo,
      tag,
      // Dockerfile instructions applied to the imported layer: no shell exists, so only metadata.
      changes: [`LABEL ${LABEL.owner}=1`, 'ENV PATH=/usr/local/bin:/usr/bin:/bin', 'CMD ["node"]'],
    });
    await drain(d, stream, `importing base image ${ref}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const id = await imageId(d, ref);
  if (!id) throw new Error(`base image ${ref} was imported but the engine does not list it`);
  return { ref, id, built: true, ms: performance.now() - t0 };
}

function rootfsTar(files: RootfsFile[], dir: string): NodeJS.ReadableStream {
  return tarFs.pack(dir, {
    umask: 0, // keep /tmp's sticky 1777
    map: (h) => {
      const imagePath = '/' + h.name.replace(/\/$/, '');
      // Root owns everything; modes come from the plan, not from wherever the copy landed.
      return { ...h, uid: 0, gid: 0, uname: 'root', gname: 'root', mode: modeFor(files, imagePath, h.type === 'directory') };
    },
  });
}

/** Walk project entries for the hash: relative path, mode, and bytes (or link target). */
function hashTree(root: string, entries: string[], h = createHash('sha256')): ReturnType<typeof createHash> {
  const visit = (abs: string) => {
    const st = lstatSync(abs);
    const rel = relative(root, abs).split(sep).join('/');
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

/** The app image for every service; `extra` paths (e.g. test fixtures) are copied into /app too. */
export function ensureAppImage(opts: AppImageOptions = {}): Promise<ImageResult> {
  const configured = process.env.RBEE_APP_IMAGE;
  const key = `app:${opts.base ?? ''}:${(opts.extra ?? []).join(',')}:${configured ?? ''}`;
  return once(key, opts.force, () => buildApp(opts));
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
  const base = opts.base ?? (await ensureBaseImage({ docker: d, force: opts.force })).ref;
  const baseId = await imageId(d, base);
  if (!baseId) throw new Error(`base image ${base} is not on the engine`);
  const extra = opts.extra ?? [];
  const entries = [...APP_ENTRIES, ...extra];
  const dockerfile =
    readFileSync(join(PROJECT_ROOT, APP_DOCKERFILE), 'utf8') + extra.map((p) => `COPY ${p} /app/${p}\n`).join('');
  const h = createHash('sha256').update(`${BUILDER_VERSION}\0${baseId}\0${dockerfile}\0`);
  const hash = hashTree(PROJECT_ROOT, entries, h).digest('hex');
  const ref = `${APP_REPO}:${hash.slice(0, 16)}`;
  const existing = await imageId(d, ref);
  if (existing && !opts.force) return { ref, id: existing, built: false, ms: performance.now() - t0 };

  const context = tarFs.pack(PROJECT_ROOT, {
    entries,
    umask: 0o022,
    finalize: false,
    // Files belong to root inside the image: the service user can read them but not change its own code.
    map: (hd) => ({ ...hd, uid: 0, gid: 0, uname: 'root', gname: 'root' }),
    finish: (pack) => {
      pack.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfile);
      pack.finalize();
    },
  });
  try {
    const stream = await d.buildImage(context, {
      t: ref,
      buildargs: { BASE: base },
      labels: { [LABEL.owner]: '1', [LABEL.hash]: hash },
      rm: true,
      forcerm: true,
      nocache: !!opts.force,
    });
    await drain(d, stream, `building ${ref}`);
  } catch (e) {
    throw new Error(`building app image ${ref}: ${engineMessage(e)}`);
  }
  const id = await imageId(d, ref);
  if (!id) throw new Error(`app image ${ref} was built but the engine does not list it`);
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
