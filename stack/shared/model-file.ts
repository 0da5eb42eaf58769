// The mock model file format, shared by the hub (which generates the bytes), the hive (which downloads
// and checks them) and the worker (which reads the header to learn how much memory to "load").
//
//   RBEEMODEL1 {"model_ref":"hf:…","vram_bytes":N,"layers":N}\n   ← one ASCII line, within the first 4 KiB
//   <deterministic pseudo-random bytes up to exactly size_bytes>
//
// The body is an AES-256-CTR keystream keyed by sha256(model_ref): deterministic (same ref → same bytes →
// same sha256 on every machine), incompressible like real weights, and fast to produce for a few MiB.

import { createCipheriv, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

export const MODEL_MAGIC = 'RBEEMODEL1';
/** The header line (including its newline) always fits in this many bytes. */
export const MODEL_HEADER_MAX_BYTES = 4096;

export interface ModelHeader {
  model_ref: string;
  vram_bytes: number;
  layers: number;
}

export interface ModelEntry extends ModelHeader {
  size_bytes: number;
}

export function encodeModelHeader(h: ModelHeader): Buffer {
  // Fixed key order so the same header always encodes to the same bytes.
  const json = JSON.stringify({ model_ref: h.model_ref, vram_bytes: h.vram_bytes, layers: h.layers });
  const line = Buffer.from(`${MODEL_MAGIC} ${json}\n`, 'utf8');
  if (line.length > MODEL_HEADER_MAX_BYTES)
    throw new Error(`model header is ${line.length} bytes, more than ${MODEL_HEADER_MAX_BYTES}`);
  return line;
}

/** Parse the header from the first bytes of a model file; throws with a readable reason. */
export function parseModelHeader(head: Buffer): ModelHeader {
  const nl = head.subarray(0, MODEL_HEADER_MAX_BYTES).indexOf(0x0a);
  if (nl < 0) throw new Error('no model header line in the first 4 KiB');
  const line = head.subarray(0, nl).toString('utf8');
  if (!line.startsWith(MODEL_MAGIC + ' ')) throw new Error(`not an rbee model file (expected "${MODEL_MAGIC}" magic)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.slice(MODEL_MAGIC.length + 1));
  } catch (e) {
    throw new Error(`model header is not valid JSON: ${(e as Error).message}`);
  }
  const h = parsed as Partial<ModelHeader> | null;
  if (!h || typeof h.model_ref !== 'string' || h.model_ref === '') throw new Error('model header: model_ref missing');
  if (!Number.isSafeInteger(h.vram_bytes) || (h.vram_bytes as number) < 0)
    throw new Error('model header: vram_bytes must be a non-negative integer');
  if (!Number.isSafeInteger(h.layers) || (h.layers as number) < 1)
    throw new Error('model header: layers must be a positive integer');
  return { model_ref: h.model_ref, vram_bytes: h.vram_bytes as number, layers: h.layers as number };
}

/** Read and parse the header of a model file on disk (reads at most the first 4 KiB). */
export async function readModelHeader(path: string): Promise<ModelHeader> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(MODEL_HEADER_MAX_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return parseModelHeader(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** The complete, deterministic content of a model file: header, then keystream up to size_bytes. */
export function modelBytes(entry: ModelEntry): Buffer {
  const header = encodeModelHeader(entry);
  if (!Number.isSafeInteger(entry.size_bytes) || entry.size_bytes < header.length) {
    throw new Error(
      `size_bytes ${entry.size_bytes} of ${entry.model_ref} is smaller than its header (${header.length} bytes)`,
    );
  }
  const key = createHash('sha256').update(`rbee-model:${entry.model_ref}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const body = cipher.update(Buffer.alloc(entry.size_bytes - header.length));
  return Buffer.concat([header, body, cipher.final()], entry.size_bytes);
}

export function sha256Hex(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}
