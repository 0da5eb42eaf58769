// The queen's registry as it is on disk (contract §1: the only state it keeps across a restart), read
// from its SQLite file by the harness itself, read-only, so a scenario can compare disk with memory. The
// file is fetched through the runtime (ServiceFiles: the disk, or the engine) and opened as a copy.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ServiceFiles } from '../stack/runtime.ts';

export interface RegistryRow {
  node_name: string;
  url: string;
}

/** Every hive in the queen's registry file `rel`, by name; throws when the file cannot be read or opened. */
export async function readQueenRegistry(files: ServiceFiles, rel: string): Promise<RegistryRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-registry-'));
  try {
    const copy = path.join(dir, path.basename(rel));
    fs.writeFileSync(copy, await files.read(rel));
    return readRegistryFile(copy);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function readRegistryFile(file: string): RegistryRow[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 1000');
    return (db.prepare('SELECT node_name, url FROM hives ORDER BY node_name').all() as RegistryRow[]).map((r) => ({
      node_name: r.node_name,
      url: r.url,
    }));
  } finally {
    db.close();
  }
}
