// Running iptables inside one container's network namespace, two ways:
//   - host shortcut (a local engine, run as root): nsenter into the namespace of the container's host pid,
//     with this machine's iptables — fast, nothing to start;
//   - netkit helper (a remote engine, or RBEE_DOCKER_HOST_SHORTCUTS=0): a small container from the netkit
//     image (base rootfs + this machine's iptables) that joins the target's namespace
//     (NetworkMode container:<id>) with only NET_ADMIN and NET_RAW, and runs each command through the
//     engine's exec API. Nothing on the engine's host is touched, and nothing needs its pid or paths.
// One helper serves one run of one container: a restarted container has a new namespace, so its old
// helper (which still holds the dead one) is removed and a new one started. Helpers carry the stack's
// labels and go with the stack (teardown, sweep).

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { execIn } from './container-io.ts';
import { engineMessage, hostShortcuts, isNotFound } from './engine.ts';
import { ensureNetkitImage } from './images.ts';
import { LABEL } from './labels.ts';
import type { DockerStackView } from './stack-view.ts';

const run = promisify(execFile);

/** Runs `iptables <args>` in the namespace; rejects with iptables' own message. */
export type Iptables = (args: string[]) => Promise<string>;

/**
 * iptables in `service`'s network namespace, or undefined when the service does not run (its namespace,
 * and every rule in it, is gone).
 */
export async function iptablesIn(stack: DockerStackView, service: string): Promise<Iptables | undefined> {
  const target = stack.service(service).container;
  let st: Docker.ContainerInspectInfo['State'];
  let id: string;
  try {
    const info = await target.inspect();
    st = info.State;
    id = info.Id;
  } catch (e) {
    if (isNotFound(e)) return undefined; // removed: its namespace is gone
    throw e;
  }
  if (!st.Running || st.Pid <= 0) return undefined;
  const where = `${service}'s network namespace`;
  if (hostShortcuts()) return (args) => nsenter(st.Pid, args, where);
  const helper = await helperFor(stack, service, id, st.StartedAt);
  return (args) => inHelper(stack.dockerClient, helper, args, where);
}

async function nsenter(pid: number, args: string[], where: string): Promise<string> {
  try {
    const { stdout } = await run('nsenter', ['-t', String(pid), '-n', 'iptables', '-w', '5', ...args], {
      timeout: 15_000,
    });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`iptables ${args.join(' ')} in ${where}: ${(err.stderr || err.message).trim()}`);
  }
}

interface Helper {
  container: Docker.Container;
  iptables: string;
}

/** Per stack: the helper of each container run, keyed by container id and start time. */
const helpers = new WeakMap<DockerStackView, Map<string, Promise<Helper>>>();

async function helperFor(stack: DockerStackView, service: string, id: string, startedAt: string): Promise<Helper> {
  let mine = helpers.get(stack);
  if (!mine) helpers.set(stack, (mine = new Map()));
  const key = `${id}@${startedAt}`;
  let h = mine.get(key);
  if (!h) {
    // The helpers of earlier runs of this container hold namespaces that are gone.
    for (const [k, old] of mine)
      if (k.startsWith(`${id}@`)) {
        mine.delete(k);
        void old.then((o) => o.container.remove({ force: true })).catch(() => {});
      }
    h = startHelper(stack, service, id);
    h.catch(() => mine.delete(key));
    mine.set(key, h);
  }
  return h;
}

async function startHelper(stack: DockerStackView, service: string, targetId: string): Promise<Helper> {
  const d = stack.dockerClient;
  const image = await ensureNetkitImage({ docker: d });
  const container = await d.createContainer({
    name: `${stack.networkName}-netkit-${service}-${targetId.slice(0, 8)}-${Date.now().toString(36)}`,
    Image: image.ref,
    // Idles; each command arrives through exec. Root inside, but with no capability beyond the two that
    // iptables needs, and only in the target's network namespace.
    Cmd: ['node', '-e', 'setInterval(() => {}, 1 << 30)'],
    User: '0:0',
    Labels: { ...stack.stackLabels(), [LABEL.service]: `netkit-${service}` },
    HostConfig: {
      NetworkMode: `container:${targetId}`,
      Init: true,
      CapDrop: ['ALL'],
      CapAdd: ['NET_ADMIN', 'NET_RAW'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Tmpfs: { '/run': 'rw,noexec,nosuid,nodev,size=1m' },
      RestartPolicy: { Name: 'no' },
      PidsLimit: 64,
    },
  });
  try {
    await container.start();
  } catch (e) {
    await container.remove({ force: true }).catch(() => {});
    throw new Error(`netkit helper for ${service} did not start: ${engineMessage(e)}`);
  }
  return { container, iptables: image.iptables };
}

async function inHelper(d: Docker, h: Helper, args: string[], where: string): Promise<string> {
  const r = await execIn(d, h.container, [h.iptables, 'iptables', '-w', '5', ...args], 15_000);
  if (r.code !== 0) throw new Error(`iptables ${args.join(' ')} in ${where}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}
