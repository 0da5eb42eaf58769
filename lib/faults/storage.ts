// Storage faults: a service's database file becomes unavailable, then available again, the same way in
// every runtime (the harness sees a service's data directory: a temp dir, or the container's bind mount).
// Permissions would not do it — the process runtime's services run as root, which ignores them — so the
// file is moved aside and a directory of the same name put in its place: every open of it fails (EISDIR /
// SQLITE_CANTOPEN) for any user, and a service that reopens its file to write finds it unavailable. The
// heal puts the very same file back, so what it held is not touched.

import fs from 'node:fs';

export interface UnavailableFile {
  file: string;
  aside: string;
}

/** Make `file` unavailable (it must exist). Undo with makeAvailable. */
export function makeUnavailable(file: string): UnavailableFile {
  if (!fs.statSync(file).isFile()) throw new Error(`${file} is not a file`);
  const aside = `${file}.rbee-unavailable`;
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
