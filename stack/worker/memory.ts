// Real memory use for the mock: buffers whose every 4 KiB page is written, so the bytes are resident
// (not lazily-mapped zero pages) and a cgroup/container memory limit produces a real out-of-memory kill.

const PAGE = 4096;
// Node caps a single Buffer (4 GiB on 64-bit); allocating in pieces also keeps each step short.
const MAX_PIECE = 256 * 1024 * 1024;

/** Allocate `bytes` and write one byte per page; keep the returned buffers referenced to keep the memory. */
export function allocateTouched(bytes: number): Buffer[] {
  const pieces: Buffer[] = [];
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, MAX_PIECE);
    const buf = Buffer.allocUnsafeSlow(n);
    for (let off = 0; off < n; off += PAGE) buf[off] = 1;
    pieces.push(buf);
    left -= n;
  }
  return pieces;
}

/** `total` split into `parts` near-equal integer shares (the last takes the remainder). */
export function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => (i === parts - 1 ? total - base * (parts - 1) : base));
}
