// "Loading the model": read the header of the model file, then allocate and touch its vram_bytes layer
// by layer, spread over MOCK_LOAD_MS, reporting each layer. The memory is real so that an undersized
// container dies the way a real worker would.

import { setTimeout as sleep } from 'node:timers/promises';
import { readModelHeader, type ModelHeader } from '../shared/model-file.ts';
import { allocateTouched, split } from './memory.ts';

export interface LoadedModel {
  header: ModelHeader;
  /** Kept referenced for the life of the process: this is the model's "VRAM". */
  memory: Buffer[];
}

export interface LoadHooks {
  /** Called once the header is read (before any allocation). */
  onHeader?: (h: ModelHeader) => void;
  /** Called after each layer is resident. */
  onLayer?: (layersLoaded: number, layersTotal: number, bytesLoaded: number) => void;
}

/** Throws if the file is missing, unreadable or not a model file, or if the memory cannot be allocated. */
export async function loadModel(path: string, loadMs: number, hooks: LoadHooks = {}): Promise<LoadedModel> {
  const header = await readModelHeader(path);
  hooks.onHeader?.(header);
  const memory: Buffer[] = [];
  const shares = split(header.vram_bytes, header.layers);
  const t0 = performance.now();
  let bytes = 0;
  for (let layer = 0; layer < header.layers; layer++) {
    memory.push(...allocateTouched(shares[layer]!));
    bytes += shares[layer]!;
    // Absolute schedule: layer k is done at t0 + loadMs * k / layers, however long the touching took.
    const wait = t0 + (loadMs * (layer + 1)) / header.layers - performance.now();
    if (wait > 0) await sleep(wait);
    hooks.onLayer?.(layer + 1, header.layers, bytes);
  }
  return { header, memory };
}
