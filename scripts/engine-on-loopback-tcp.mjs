// A second endpoint for the local Docker engine, on loopback TCP: what a remote engine looks like to the
// harness (DOCKER_HOST=tcp://…), on a machine that has only the local socket. With
// RBEE_DOCKER_HOST_SHORTCUTS=0 the docker runtime then works as it does against a remote engine (faults
// through helper containers and the engine's archive and exec APIs, data in volumes), which is how that
// path is tested here (scripts/test-all.sh, runtime "docker-remote").
//
//   node scripts/engine-on-loopback-tcp.mjs [port]    prints "listening tcp://127.0.0.1:<port>" when ready
//
// Only 127.0.0.1 is bound; each connection is piped to the socket unchanged. Ends on SIGTERM or SIGINT.

import net from 'node:net';

const socket = process.env.RBEE_ENGINE_SOCKET ?? '/var/run/docker.sock';
const port = Number(process.argv[2] ?? 0);
const server = net.createServer((client) => {
  const engine = net.connect(socket);
  client.pipe(engine);
  engine.pipe(client);
  client.on('error', () => engine.destroy());
  engine.on('error', () => client.destroy());
  client.on('close', () => engine.destroy());
  engine.on('close', () => client.destroy());
});
server.on('error', (e) => {
  console.error(`error: cannot listen on 127.0.0.1:${port}: ${e.message}`);
  process.exit(2);
});
server.listen(port, '127.0.0.1', () => console.log(`listening tcp://127.0.0.1:${server.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
