// Getting bytes out of containers: their output into the harness-side log file, short commands run inside
// them (docker exec), and the tail of a log for one-line failure messages.

import type { WriteStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { engineMessage } from './engine.ts';
import { eventually, withDeadline } from '../observe/eventually.ts';

/**
 * Attach to a container's stdout+stderr (before it is started, so not a line is missed) and append both,
 * demultiplexed, to `out`. `done` settles when the attach stream ends — that is, when the container has
 * stopped and its last output has been written. (Wrapped in an object: a promise of a promise would flatten.)
 */
export async function attachOutput(d: Docker, c: Docker.Container, out: WriteStream): Promise<{ done: Promise<void> }> {
  const stream = (await c.attach({ stream: true, stdout: true, stderr: true, logs: false })) as NodeJS.ReadableStream;
  // `end: false` semantics: the file outlives one run of the container (restart appends to it).
  const sink = {
    write: (chunk: Buffer) => out.write(chunk),
  } as unknown as NodeJS.WritableStream;
  d.modem.demuxStream(stream, sink, sink);
  const done = new Promise<void>((resolve) => {
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', () => resolve());
  });
  return { done };
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `cmd` inside a running container as its configured user; bounded by `timeoutMs`. */
export async function execIn(d: Docker, c: Docker.Container, cmd: string[], timeoutMs = 15_000): Promise<ExecResult> {
  const ex = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = (await ex.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream & { destroy(): void };
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  out.on('data', (b: Buffer) => chunks.out.push(b));
  err.on('data', (b: Buffer) => chunks.err.push(b));
  d.modem.demuxStream(stream, out, err);
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  try {
    await withDeadline(ended, timeoutMs, () => `exec ${cmd.join(' ')} did not finish within ${timeoutMs} ms`);
  } finally {
    stream.destroy();
  }
  // The exec's exit code is recorded by the engine a moment after its output stream closes.
  const code = await eventually(
    async () => {
      const info = await ex.inspect();
      if (info.Running || info.ExitCode === null) throw new Error('the engine has not recorded an exit code yet');
      return info.ExitCode;
    },
    { within: 1000, every: 20, what: `the exit code of exec ${cmd.join(' ')}` },
  );
  return {
    code,
    stdout: Buffer.concat(chunks.out).toString('utf8'),
    stderr: Buffer.concat(chunks.err).toString('utf8'),
  };
}

/** Like execIn, but a failure (or an engine error) becomes one line naming what was run where. */
export async function execOk(d: Docker, c: Docker.Container, what: string, cmd: string[]): Promise<ExecResult> {
  let r: ExecResult;
  try {
    r = await execIn(d, c, cmd);
  } catch (e) {
    throw new Error(`${what}: ${engineMessage(e)}`);
  }
  if (r.code !== 0)
    throw new Error(`${what}: exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}
