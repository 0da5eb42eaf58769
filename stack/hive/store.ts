// SQLite persistence of the hive: worker registry and model catalog (contract §2 "Persistence and
// recovery"). Memory is authoritative; the database is a write-through mirror so that a restarted hive can
// reload. When the file is unreadable or corrupt — at start or later, e.g. overwritten on disk — the hive
// logs `catalog.corrupt` with the SQLite error, moves the file aside, and carries on with an in-memory
// database holding everything it knew, reporting `degraded` with that reason.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../shared/log.ts';
import type { CatalogEntry, PersistedWorker } from './types.ts';

type Db = Database.Database;

export interface StoreSnapshot {
  workers: PersistedWorker[];
  models: CatalogEntry[];
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS workers (worker_id TEXT PRIMARY KEY, record TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS models (
    model_ref TEXT PRIMARY KEY, local_path TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL, downloaded_at TEXT NOT NULL);
`;

export function isCorruptionError(e: unknown): boolean {
  const code = String((e as { code?: unknown })?.code ?? '');
  const msg = String((e as Error)?.message ?? '');
  return /^SQLITE_(CORRUPT|NOTADB)/.test(code) || /malformed|not a database|file is encrypted/i.test(msg);
}

export class HiveStore {
  private db: Db;
  private inode: number | null = null;
  private memory: boolean;
  /** Why the store is degraded (reported by /v1/health), or null. */
  degradedReason: string | null = null;
  private snapshot: () => StoreSnapshot = () => ({ workers: [], models: [] });
  private writeFailureLogged = false;

  constructor(
    private readonly dbPath: string | undefined,
    private readonly log: Logger,
  ) {
    this.memory = !dbPath;
    if (!dbPath) {
      log.warn('RBEE_HIVE_DB is not set: workers and catalog are kept in memory only', { event: 'store.memory_only' });
      this.db = openMemory();
      return;
    }
    try {
      this.db = this.openFile(dbPath);
    } catch (e) {
      this.db = this.fallBackToMemory(e);
    }
  }

  /** Where the current state comes from when the hive must rebuild a database (after corruption). */
  setSnapshotSource(fn: () => StoreSnapshot): void {
    this.snapshot = fn;
  }

  get inMemory(): boolean {
    return this.memory;
  }

  loadWorkers(): PersistedWorker[] {
    return this.read(
      () =>
        (this.db.prepare('SELECT record FROM workers').all() as { record: string }[]).flatMap((r) => {
          try {
            return [JSON.parse(r.record) as PersistedWorker];
          } catch {
            return [];
          }
        }),
      [],
    );
  }

  loadModels(): CatalogEntry[] {
    return this.read(() => this.db.prepare('SELECT * FROM models').all() as CatalogEntry[], []);
  }

  putWorker(w: PersistedWorker): void {
    this.write(() =>
      this.db
        .prepare('INSERT OR REPLACE INTO workers (worker_id, record) VALUES (?, ?)')
        .run(w.info.worker_id, JSON.stringify(w)),
    );
  }

  deleteWorker(workerId: string): void {
    this.write(() => this.db.prepare('DELETE FROM workers WHERE worker_id = ?').run(workerId));
  }

  putModel(m: CatalogEntry): void {
    this.write(() =>
      this.db
        .prepare(
          'INSERT OR REPLACE INTO models (model_ref, local_path, size_bytes, sha256, downloaded_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(m.model_ref, m.local_path, m.size_bytes, m.sha256, m.downloaded_at),
    );
  }

  deleteModel(modelRef: string): void {
    this.write(() => this.db.prepare('DELETE FROM models WHERE model_ref = ?').run(modelRef));
  }

  /**
   * Look at the file on disk: SQLite only notices a damaged file when it reads it, and a file replaced by
   * another one is never noticed through the open handle. Called by the monitor and by /v1/health.
   */
  check(): void {
    if (this.memory || !this.dbPath) return;
    let ino: number | null = null;
    try {
      ino = fs.statSync(this.dbPath).ino;
    } catch {
      /* gone: reopen below creates it again */
    }
    try {
      if (ino !== this.inode) {
        this.db.close();
        this.db = this.openFile(this.dbPath);
        this.log.warn('hive database file was replaced or removed; reopened it and rewrote the current state', {
          event: 'store.reopened',
        });
        this.rewrite(this.snapshot());
        return;
      }
      validate(this.db);
    } catch (e) {
      if (isCorruptionError(e) || !this.db.open) this.db = this.fallBackToMemory(e);
      else this.logWriteFailure(e);
    }
  }

  close(): void {
    try {
      this.db.close();
    } catch {
      /* already closed */
    }
  }

  private openFile(file: string): Db {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    try {
      db.pragma('busy_timeout = 2000');
      validate(db);
      db.exec(SCHEMA);
    } catch (e) {
      db.close();
      throw e;
    }
    this.inode = fs.statSync(file).ino;
    return db;
  }

  private fallBackToMemory(err: unknown): Db {
    const sqliteError = `${String((err as { code?: unknown })?.code ?? 'ERROR')}: ${(err as Error)?.message ?? String(err)}`;
    let movedTo: string | null = null;
    try {
      this.db?.close();
    } catch {
      /* ignore */
    }
    if (this.dbPath && fs.existsSync(this.dbPath)) {
      movedTo = `${this.dbPath}.corrupt-${Date.now()}`;
      try {
        fs.renameSync(this.dbPath, movedTo);
        for (const suffix of ['-journal', '-wal', '-shm']) {
          if (fs.existsSync(this.dbPath + suffix)) fs.renameSync(this.dbPath + suffix, movedTo + suffix);
        }
      } catch (e) {
        movedTo = null;
        this.log.error('could not move the corrupt database aside', { event: 'store.move_failed', err: String(e) });
      }
    }
    this.memory = true;
    this.degradedReason =
      `catalog database ${this.dbPath} is unreadable or corrupt (${sqliteError})` +
      (movedTo ? `; moved aside to ${movedTo}` : '') +
      '; running on an in-memory store';
    this.log.error(`catalog database is corrupt (${sqliteError}); continuing on an in-memory store`, {
      event: 'catalog.corrupt',
      sqlite_error: sqliteError,
      db_path: this.dbPath,
      moved_to: movedTo,
    });
    const db = openMemory();
    this.db = db;
    this.rewrite(this.snapshot());
    return db;
  }

  private rewrite(s: StoreSnapshot): void {
    for (const w of s.workers) this.putWorker(w);
    for (const m of s.models) this.putModel(m);
  }

  private read<T>(op: () => T, fallback: T): T {
    try {
      return op();
    } catch (e) {
      if (isCorruptionError(e)) {
        this.fallBackToMemory(e);
        return fallback;
      }
      this.logWriteFailure(e);
      return fallback;
    }
  }

  private write(op: () => unknown): void {
    try {
      op();
      this.writeFailureLogged = false;
    } catch (e) {
      if (isCorruptionError(e)) {
        // The snapshot rewrite already contains this change: memory was updated before the write.
        this.fallBackToMemory(e);
        return;
      }
      this.logWriteFailure(e);
    }
  }

  private logWriteFailure(e: unknown): void {
    if (this.writeFailureLogged) return;
    this.writeFailureLogged = true;
    this.log.warn('hive database write failed; state is kept in memory', {
      event: 'store.write_failed',
      err: String(e),
    });
  }
}

function openMemory(): Db {
  const db = new Database(':memory:');
  db.exec(SCHEMA);
  return db;
}

/** Throws (or returns the problem) when the file is not a sound SQLite database. */
function validate(db: Db): void {
  const rows = db.pragma('quick_check') as { quick_check: string }[];
  const first = rows[0]?.quick_check;
  if (first !== 'ok') {
    const err = new Error(`database disk image is malformed: ${rows.map((r) => r.quick_check).join('; ')}`) as Error & {
      code: string;
    };
    err.code = 'SQLITE_CORRUPT';
    throw err;
  }
}
