// The root filesystem of the local base image, made from this machine's own Node runtime so that no
// registry is needed: the node binary, the shared libraries it and the project's native addons load
// (as `ldd` resolves them), the dynamic loader, glibc's NSS modules for name lookup, and a few /etc
// files. Nothing else — no shell, no package manager.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  constants,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

export const RBEE_UID = 10001;

export interface RootfsFile {
  /** Absolute path inside the image. */
  path: string;
  /** Real file on this machine to copy, or literal content. */
  from?: string;
  content?: string;
  mode: number;
}

const ETC: RootfsFile[] = [
  {
    path: '/etc/passwd',
    mode: 0o644,
    content: `root:x:0:0:root:/root:/sbin/nologin\nrbee:x:${RBEE_UID}:${RBEE_UID}:rbee:/tmp:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n`,
  },
  { path: '/etc/group', mode: 0o644, content: `root:x:0:\nrbee:x:${RBEE_UID}:\nnogroup:x:65534:\n` },
  // Without "hosts: files dns", glibc would not ask Docker's embedded DNS for the other services' names.
  { path: '/etc/nsswitch.conf', mode: 0o644, content: 'passwd: files\ngroup: files\nhosts: files dns\n' },
  // Docker bind-mounts its own hosts/resolv.conf over these; they exist so the mount points exist.
  { path: '/etc/hosts', mode: 0o644, content: '127.0.0.1 localhost\n::1 localhost\n' },
  { path: '/etc/resolv.conf', mode: 0o644, content: '' },
];

/** Directories created explicitly (with their modes), beyond the parents of files. */
export const ROOTFS_DIRS: Array<{ path: string; mode: number }> = [
  { path: '/tmp', mode: 0o1777 },
  // The netkit helper's iptables takes its lock in /run (a tmpfs there; the mount point must exist).
  { path: '/run', mode: 0o755 },
  // Any service user may write it: a data volume (no host shortcuts) starts as a copy of this directory.
  { path: '/data', mode: 0o1777 },
  { path: '/app', mode: 0o755 },
];

/** Paths of shared objects `ldd` resolves for one ELF file (static binaries have none). */
function lddDeps(file: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return []; // "not a dynamic executable"
  }
  const deps: string[] = [];
  for (const line of out.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) deps.push(m[1]);
  }
  return deps;
}

function findNativeAddons(dir: string, found: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findNativeAddons(p, found);
    else if (e.isFile() && e.name.endsWith('.node')) found.push(p);
  }
  return found;
}

/**
 * Everything that goes into the base rootfs. `projectRoot` is searched for native addons (*.node under
 * node_modules) so their libraries come along too.
 */
export function planRootfs(projectRoot: string): RootfsFile[] {
  const node = realpathSync(process.execPath);
  const elves = [node, ...findNativeAddons(join(projectRoot, 'node_modules'))];
  const libs = new Set<string>();
  for (const f of elves) for (const d of lddDeps(f)) libs.add(d);
  const libc = [...libs].find((l) => /\/libc\.so\.6$/.test(l));
  if (!libc)
    throw new Error(
      `ldd found no libc for ${node}; is it a glibc build? (set RBEE_BASE_IMAGE to use an existing image)`,
    );
  // glibc loads these with dlopen for getaddrinfo(); ldd cannot see them.
  for (const name of ['libnss_dns.so.2', 'libnss_files.so.2', 'libresolv.so.2']) {
    const p = join(dirname(libc), name);
    try {
      statSync(p);
      libs.add(p);
    } catch {
      // glibc ≥ 2.34 has dns/files built into libc; the stubs may be absent and are then not needed.
    }
  }
  const files: RootfsFile[] = [{ path: '/usr/local/bin/node', from: node, mode: 0o755 }];
  return [...files, ...libraryFiles(libs), ...ETC];
}

/** Libraries keep the path ldd printed (the loader searches exactly there), with the real file's bytes. */
function libraryFiles(libs: Iterable<string>): RootfsFile[] {
  return [...new Set(libs)].sort().map((l) => ({ path: l, from: realpathSync(l), mode: 0o755 }));
}

/** The netkit helper's iptables: this machine's multi-call binary, run as `<bin> iptables …`. */
export interface IptablesPlan {
  /** Path of the multi-call binary inside the image. */
  binary: string;
  files: RootfsFile[];
}

/**
 * The files that make this machine's iptables run in a container: the multi-call binary (xtables-nft-multi
 * or xtables-legacy-multi, whichever `iptables` is here), its libraries, and the match and target
 * extensions it dlopens (xtables/*.so, where ldd cannot see them) with theirs. For the netkit image, the
 * helper that changes a container's rules from inside its network namespace when the host cannot (remote
 * engine, or host shortcuts off).
 */
export function planIptables(): IptablesPlan {
  let binary: string;
  try {
    const which = execFileSync('sh', ['-c', 'command -v iptables'], { encoding: 'utf8' }).trim();
    binary = realpathSync(which);
  } catch {
    throw new Error('iptables is not installed on this machine (apt-get install -y iptables)');
  }
  const extDirs = ['/usr/lib/x86_64-linux-gnu/xtables', '/usr/lib/aarch64-linux-gnu/xtables', '/usr/lib/xtables'];
  const extensions = extDirs.flatMap((d) => {
    try {
      return readdirSync(d)
        .filter((f) => f.endsWith('.so'))
        .map((f) => join(d, f));
    } catch {
      return [];
    }
  });
  const libs = new Set<string>();
  for (const f of [binary, ...extensions]) for (const d of lddDeps(f)) libs.add(d);
  return {
    binary,
    files: [
      { path: binary, from: binary, mode: 0o755 },
      ...extensions.map((e) => ({ path: e, from: realpathSync(e), mode: 0o644 })),
      ...libraryFiles(libs),
    ],
  };
}

/** Content hash of a planned rootfs: paths, modes and bytes (the node binary dominates, ~0.3 s). */
export function hashRootfs(files: RootfsFile[], salt: string): string {
  const h = createHash('sha256').update(salt);
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    h.update(`${f.path}\0${f.mode}\0`);
    h.update(f.from ? readFileSync(f.from) : (f.content ?? ''));
    h.update('\0');
  }
  for (const d of ROOTFS_DIRS) h.update(`${d.path}\0${d.mode}\0`);
  return h.digest('hex');
}

/** Materialise the rootfs under `dir` (a fresh temp dir), to be tarred with modes from the plan. */
export function stageRootfs(files: RootfsFile[], dir: string): void {
  for (const d of ROOTFS_DIRS) mkdirSync(join(dir, d.path), { recursive: true });
  for (const f of files) {
    const dest = join(dir, f.path);
    mkdirSync(dirname(dest), { recursive: true });
    if (f.from) copyFileSync(f.from, dest, constants.COPYFILE_FICLONE);
    else writeFileSync(dest, f.content ?? '');
  }
}

/** Mode to record in the tar for an image path (files from the plan, dirs from ROOTFS_DIRS, else 0755). */
export function modeFor(files: RootfsFile[], imagePath: string, isDir: boolean): number {
  if (isDir) return ROOTFS_DIRS.find((d) => d.path === imagePath)?.mode ?? 0o755;
  return files.find((f) => f.path === imagePath)?.mode ?? 0o644;
}
