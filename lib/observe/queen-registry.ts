// The queen's registry as it is on disk (contract §1: the only state it keeps across a restart), read
// from its SQLite file by the harness itself, read-only, so a scenario can compare disk with memory.

import Database from 'better-sqlite3';

export interface RegistryRow {
  node_name: string;
  url: string;
}

/** Every hive in the queen's registry file, by name; throws when the file cannot be opened. */
export function readQueenRegistry(file: string): RegistryRow[] {
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
