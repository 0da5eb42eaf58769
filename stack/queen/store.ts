// The queen's only durable state: the hive registry (contract §1 "Restart"). Memory is authoritative and
// the SQLite file is a mirror, written shortly after each change. If writing fails (file unwritable,
// removed, replaced, disk trouble — INT-007) the queen keeps working from memory, logs the outage once and
// retries; the first write that works again rewrites the whole registry, so nothing is lost.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../shared/log.ts';

export interface HiveRow {
  node_name: string;
  url: string;
  static: boolean;
  registered_at_ms: number;
  last_heartbeat_ms: number | null;
}

const FLUSH_DELAY_MS = 200;
const RETRY_MS = 1000;

export class QueenStore {
  private db: Database.Database | null = null;
  private inode: number | null = null;
  private readonly rows = new Map<string, HiveRow>();
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private failing = false;
  /** The file could not be read at start: what it holds is merged in once it can be (never overwritten). */
  private unread = false;
  /** Told about rows found on disk only after a failed start-up read. */
  onLateRows: (rows: HiveRow[]) => void = () => {};

  constructor(
    private readonly dbPath: string | undefined,
    private readonly log: Logger,
  ) {
    if (!dbPath)
      log.warn('RBEE_QUEEN_DB is not set: the hive registry is kept in memory only', { event: 'store.memory_only' });
  }

  /** Rows on disk at start; an unreadable file gives an empty registry (and is retried for writes). */
  load(): HiveRow[] {
    if (!this.dbPath) return [];
    try {
      const rows = readRows(this.open());
      for (const r of rows) this.rows.set(r.node_name, r);
      return rows;
    } catch (e) {
      this.closeDb();
      this.unread = true;
      this.log.error('could not read the hive registry database; starting empty, will merge it in once readable', {
        event: 'store.read_failed',
        err: String(e),
      });
      this.dirty = true; // retry soon, which also retries the read
      this.schedule(RETRY_MS);
      return [];
    }
  }

  upsert(row: HiveRow): void {
    this.rows.set(row.node_name, { ...row });
    this.markDirty();
  }

  delete(nodeName: string): void {
    if (this.rows.delete(nodeName)) this.markDirty();
  }

  get pendingWrites(): boolean {
    return this.dirty;
  }

  /** Write the registry now; false when the storage is unavailable (a retry is scheduled). */
  flush(): boolean {
    if (!this.dbPath || !this.dirty) return true;
    try {
      const db = this.open();
      if (this.unread) {
        const late = readRows(db).filter((r) => !this.rows.has(r.node_name));
        for (const r of late) this.rows.set(r.node_name, r);
        this.unread = false;
        if (late.length > 0) this.onLateRows(late);
      }
      const rows = [...this.rows.values()];
      db.transaction(() => {
        db.prepare('DELETE FROM hives').run();
        const ins = db.prepare(
          'INSERT INTO hives (node_name, url, static, registered_at_ms, last_heartbeat_ms) VALUES (?, ?, ?, ?, ?)',
        );
        for (const r of rows) ins.run(r.node_name, r.url, r.static ? 1 : 0, r.registered_at_ms, r.last_heartbeat_ms);
      })();
      this.dirty = false;
      if (this.failing)
        this.log.info('hive registry storage is writable again; registry written', {
          event: 'store.recovered',
          hives: rows.length,
        });
      this.failing = false;
      return true;
    } catch (e) {
      this.closeDb();
      if (!this.failing) {
        this.log.warn('cannot write the hive registry; keeping it in memory and retrying', {
          event: 'store.write_failed',
          err: String(e),
        });
      }
      this.failing = true;
      this.schedule(RETRY_MS);
      return false;
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flush();
    this.closeDb();
  }

  private markDirty(): void {
    this.dirty = true;
    this.schedule(FLUSH_DELAY_MS);
  }

  private schedule(ms: number): void {
    if (!this.dbPath || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, ms);
    this.timer.unref();
  }

  /** The open database, reopened when the file was removed or replaced since (it would be written in vain). */
  private open(): Database.Database {
    const file = this.dbPath!;
    let ino: number | null = null;
    try {
      ino = fs.statSync(file).ino;
    } catch {
      /* missing: created below */
    }
    if (this.db && ino === this.inode) return this.db;
    this.closeDb();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let db: Database.Database;
    try {
      db = openSchema(file);
    } catch (e) {
      if (!isCorruption(e)) throw e;
      // A damaged file can never be written again: keep it for inspection and start a fresh one, which the
      // flush that called us fills with the whole registry.
      const aside = `${file}.corrupt-${Date.now()}`;
      fs.renameSync(file, aside);
      this.log.error('hive registry database is corrupt; moved aside, writing a fresh one', {
        event: 'store.corrupt',
        err: String(e),
        moved_to: aside,
      });
      db = openSchema(file);
    }
    this.db = db;
    this.inode = fs.statSync(file).ino;
    return db;
  }

  private closeDb(): void {
    try {
      this.db?.close();
    } catch {
      /* ignore */
    }
    this.db = null;
    this.inode = null;
  }
}

function openSchema(file: string): Database.Database {
  const db = new Database(file);
  try {
    db.pragma('busy_timeout = 2000');
    db.exec(
      'CREATE TABLE IF NOT EXISTS hives (node_name TEXT PRIMARY KEY, url TEXT NOT NULL, static INTEGER NOT NULL, registered_at_ms INTEGER NOT NULL, last_heartbeat_ms INTEGER)',
    );
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

function isCorruption(e: unknown): boolean {
  return (
    /^SQLITE_(CORRUPT|NOTADB)/.test(String((e as { code?: unknown })?.code ?? '')) ||
    /not a database|malformed/i.test(String((e as Error)?.message))
  );
}

function readRows(db: Database.Database): HiveRow[] {
  return (
    db.prepare('SELECT node_name, url, static, registered_at_ms, last_heartbeat_ms FROM hives').all() as Array<
      Omit<HiveRow, 'static'> & { static: number }
    >
  ).map((r) => ({ ...r, static: Boolean(r.static) }));
}
