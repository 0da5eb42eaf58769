// A container's data files through the engine alone, so that faults on them work with any engine (remote,
// or host shortcuts off): reads and overwrites through the archive API (GET/PUT /containers/{id}/archive,
// which also works on a stopped container), and the storage fault's rename through exec, running the very
// functions the disk implementation runs (lib/stack/files.ts), inside the container as its own user.

import { posix } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type Docker from 'dockerode';
import type { ServiceFiles } from '../stack/runtime.ts';
import { ASIDE, makeAvailable, makeUnavailable } from '../stack/files.ts';
import { execOk } from './container-io.ts';
import { engineMessage } from './engine.ts';
import { withDeadline } from '../observe/eventually.ts';

interface Entry {
  header: tar.Header;
  data: Buffer;
}

/** The files under `mount` (the data dir's path inside the container) of the container `current()` returns. */
export function archiveFiles(d: Docker, current: () => Docker.Container, mount: string, name: string): ServiceFiles {
  const at = (rel: string) => posix.join(mount, rel);
  const script = (fn: string, call: string) =>
    `const fs = require('node:fs'); const ASIDE = ${JSON.stringify(ASIDE)}; ${fn}; ${call}`;
  return {
    async read(rel) {
      const { header, data } = await readEntry(current(), at(rel), name);
      if (header.type !== 'file') throw new Error(`${at(rel)} in ${name} is not a file (${header.type})`);
      return data;
    },
    async write(rel, data) {
      const { header } = await readEntry(current(), at(rel), name);
      if (header.type !== 'file') throw new Error(`${at(rel)} in ${name} is not a file`);
      const pack = tar.pack();
      // Same name, owner and mode: the service can still open it, only its bytes changed.
      pack.entry({ name: posix.basename(rel), mode: header.mode, uid: header.uid, gid: header.gid }, data);
      pack.finalize();
      try {
        await current().putArchive(pack as unknown as Readable, { path: posix.dirname(at(rel)) });
      } catch (e) {
        throw new Error(`writing ${at(rel)} in ${name} through the engine: ${engineMessage(e)}`);
      }
    },
    async makeUnavailable(rel) {
      const js = script(makeUnavailable.toString(), 'makeUnavailable(process.argv[1])');
      await execOk(d, current(), `making ${at(rel)} unavailable in ${name}`, ['node', '-e', js, at(rel)]);
    },
    async makeAvailable(rel) {
      const js = script(
        makeAvailable.toString(),
        'makeAvailable({ file: process.argv[1], aside: process.argv[1] + ASIDE })',
      );
      await execOk(d, current(), `making ${at(rel)} available in ${name}`, ['node', '-e', js, at(rel)]);
    },
  };
}

/** One file out of the engine's tar of `path`. */
async function readEntry(c: Docker.Container, path: string, name: string): Promise<Entry> {
  let archive: NodeJS.ReadableStream;
  try {
    archive = (await withDeadline(
      c.getArchive({ path }) as Promise<NodeJS.ReadableStream>,
      4000,
      () => 'the engine did not answer the archive request within 4 s',
    )) as NodeJS.ReadableStream;
  } catch (e) {
    throw new Error(`reading ${path} in ${name} through the engine: ${engineMessage(e)}`);
  }
  const extract = tar.extract();
  const entries: Entry[] = [];
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (b) => chunks.push(b as Buffer));
    stream.on('end', () => {
      entries.push({ header, data: Buffer.concat(chunks) });
      next();
    });
    stream.resume();
  });
  await withDeadline(
    new Promise<void>((resolve, reject) => {
      extract.on('finish', resolve);
      extract.on('error', reject);
      archive.on('error', reject);
      archive.pipe(extract);
    }),
    4000,
    () => `the archive of ${path} did not end within 4 s (${entries.length} entries read)`,
  );
  const first = entries[0];
  if (!first) throw new Error(`the engine's archive of ${path} in ${name} is empty`);
  return first;
}
