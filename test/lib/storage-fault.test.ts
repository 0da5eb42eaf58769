import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeAvailable, makeUnavailable } from '../../lib/stack/files.ts';

test('a database made unavailable cannot be opened (also as root); made available again it holds what it held', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-fault-'));
  try {
    const file = path.join(dir, 'queen.db');
    const db = new Database(file);
    db.exec("CREATE TABLE hives (node_name TEXT PRIMARY KEY); INSERT INTO hives VALUES ('hive-a')");
    db.close();
    const u = makeUnavailable(file);
    assert.throws(() => new Database(file), /unable to open|directory/i);
    assert.throws(() => fs.writeFileSync(file, 'x'), /EISDIR/);
    makeAvailable(u);
    const again = new Database(file, { readonly: true });
    assert.deepEqual(again.prepare('SELECT node_name FROM hives').all(), [{ node_name: 'hive-a' }]);
    again.close();
    assert.deepEqual(fs.readdirSync(dir), ['queen.db']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing file cannot be made unavailable (the fault names it)', () => {
  assert.throws(() => makeUnavailable(path.join(os.tmpdir(), 'no-such-file.db')), /ENOENT/);
});
