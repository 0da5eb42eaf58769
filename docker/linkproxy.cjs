// The link proxy: a TCP relay that adds latency and caps bandwidth on one link between two services of a
// docker stack. It runs in its own container on the stack's network; lib/docker/link.ts redirects a's
// connections to b (iptables DNAT inside a's namespace) here, and it relays them to b on the same port.
// Given to `node -e` as text, so no image needs to carry it. Plain CommonJS, no dependencies.
//
// Env: LINK_TARGET (b's IP), LINK_PORTS ("9200,8100-8199"), LINK_LATENCY_MS (added to each direction),
// LINK_BANDWIDTH_BPS (bytes/s per direction and connection, 0 = unlimited).
const net = require('node:net');

const target = process.env.LINK_TARGET;
const latency = Number(process.env.LINK_LATENCY_MS || 0);
const bps = Number(process.env.LINK_BANDWIDTH_BPS || 0);
const ports = String(process.env.LINK_PORTS || '')
  .split(',')
  .flatMap((p) => {
    const [lo, hi] = p.split('-').map(Number);
    return Array.from({ length: (hi || lo) - lo + 1 }, (_, i) => lo + i);
  });
const HIGH_WATER = 256 * 1024;

// One direction of one connection: chunks leave in order, each no earlier than its arrival + latency and
// no earlier than the bandwidth allows after the one before.
function pipe(from, to) {
  let nextFree = 0;
  let queued = 0;
  let ended = false;
  const flushEnd = () => ended && queued === 0 && to.end();
  from.on('data', (chunk) => {
    const now = Date.now();
    const at = Math.max(now + latency, nextFree);
    nextFree = at + (bps > 0 ? (chunk.length * 1000) / bps : 0);
    queued += chunk.length;
    if (queued > HIGH_WATER) from.pause(); // backpressure instead of buffering without bound
    setTimeout(() => {
      queued -= chunk.length;
      to.write(chunk);
      if (queued <= HIGH_WATER) from.resume();
      flushEnd();
    }, at - now);
  });
  from.on('end', () => {
    ended = true;
    flushEnd();
  });
}

// Half-open sockets: an end from one side is passed on only after the data still delayed in the relay,
// so a response followed at once by a close is not cut short.
for (const port of ports) {
  net
    .createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ port, host: target, allowHalfOpen: true });
      const abort = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', abort);
      upstream.on('error', abort);
      pipe(client, upstream);
      pipe(upstream, client);
    })
    .listen(port, '0.0.0.0');
}
const line = {
  ts: new Date().toISOString(),
  level: 'info',
  service: 'linkproxy',
  msg: 'relaying',
  event: 'link.ready',
  target,
  ports: process.env.LINK_PORTS,
  latency_ms: latency,
  bandwidth_bps: bps,
};
process.stdout.write(JSON.stringify(line) + '\n');
process.on('SIGTERM', () => process.exit(0));
