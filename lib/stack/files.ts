// A service's data files on this machine's disk (process runtime; docker with host shortcuts, through the
// bind mount), and the storage fault's two moves on them: a database file becomes unavailable, then
// available again. (Docker without host shortcuts does the same through the engine: archive-files.ts.)
// Permissions would not do it — the process runtime's services run as root, which ignores them — so the
// file is moved aside and a directory of the same name put in its place: every open of it fails (EISDIR /
// SQLITE_CANTOPEN) for any user, and a service that reopens its file to write finds it unavailable. The
// heal puts the very same file back, so what it held is not touched.

import fs from 'node:fs';
import path from 'node:path';
import type { ServiceFiles } from './runtime.ts';

/** The files under `dir`, read and changed directly. */
export function diskFiles(dir: string): ServiceFiles {
  const at = (rel: string) => path.join(dir, rel);
  return {
    read: async (rel) => fs.readFileSync(at(rel)),
    write: async (rel, data) => {
      if (!fs.statSync(at(rel)).isFile()) throw new Error(`${at(rel)} is not a file`);
      fs.writeFileSync(at(rel), data);
    },
    makeUnavailable: async (rel) => void makeUnavailable(at(rel)),
    makeAvailable: async (rel) => makeAvailable({ file: at(rel), aside: `${at(rel)}${ASIDE}` }),
  };
}

/** What the file is renamed to while it is unavailable. */
export const ASIDE = '.rbee-unavailable';

export interface UnavailableFile {
  file: string;
  aside: string;
}

/** Make `file` unavailable (it must exist). Undo with makeAvailable. */
export function makeUnavailable(file: string): UnavailableFile {
  if (!fs.statSync(file).isFile()) throw new Error(`${file} is not a file`);
  const aside = `${file}${ASIDE}`;
  fs.renameSync(file, aside);
  try {
    fs.mkdirSync(file);
  } catch (e) {
    fs.renameSync(aside, file);
    throw e;
  }
  return { file, aside };
}

/**
 * Put the file back. The directory in its place is empty (nothing can be created in it through the
 * service's open of a file path); removing it and renaming the file back leave a moment with no file,
 * in which a service's retry could create an empty one — the rename then replaces it.
 */
export function makeAvailable(u: UnavailableFile): void {
  fs.rmdirSync(u.file);
  fs.renameSync(u.aside, u.file);
}
