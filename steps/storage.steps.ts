// Storage faults (INT-007): the queen's registry database becomes unavailable and available again; the
// registry is read from the file itself, so "nothing lost" compares what is on disk before and after.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { eventually, leftOf } from '../lib/observe/eventually.ts';
import { readQueenRegistry, type RegistryRow } from '../lib/observe/queen-registry.ts';
import type { RbeeWorld } from '../support/world.ts';
import type { Stack } from '../lib/stack/stack.ts';

const QUEEN_DB = 'queen.db';

/** `"hive-a", "hive-b" and "hive-x"` → the names. */
const namesIn = (text: string) => [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);

/** The queen's registry rows on disk (read through the runtime: its disk, or the engine's archive API). */
function registryRows(stack: Stack): Promise<RegistryRow[]> {
  return readQueenRegistry(stack.service('queen').files, QUEEN_DB);
}

function expectHives(rows: readonly RegistryRow[], names: readonly string[], where: string): void {
  expect(rows.map((r) => r.node_name).sort(), where).to.include.members(names);
}

Given(/^the queen's registry database lists the hives (.+)$/, async function (this: RbeeWorld, list: string) {
  const stack = await this.theStack();
  const rows = await eventually(
    async () => {
      const r = await registryRows(stack);
      expectHives(r, namesIn(list), `hives in the queen's ${QUEEN_DB}`);
      return r;
    },
    { within: 5000, what: `the queen to write ${list} to its registry database` },
  );
  this.remembered.set('registry before', rows);
});

When("the queen's registry database becomes unavailable", async function (this: RbeeWorld) {
  await this.theStack();
  this.fault = await this.nemesis!.storageUnavailable('queen', QUEEN_DB);
});

When("the queen's registry database is available again", async function (this: RbeeWorld) {
  await this.nemesis!.heal(this.theFault());
});

When(
  "the hive {string} at {string} is added to the queen's registry",
  async function (this: RbeeWorld, name: string, url: string) {
    const r = await (await this.theStack()).queen.addHive(name, url);
    expect(r.status, r.text).to.equal(200);
  },
);

Then("the queen's registry database cannot be opened", async function (this: RbeeWorld) {
  const stack = await this.theStack();
  const opened = await registryRows(stack).then(
    (rows) => `it opened, listing ${rows.map((r) => r.node_name).join(', ') || 'no hive'}`,
    () => undefined,
  );
  expect(opened, `opening the queen's ${QUEEN_DB} during the fault`).to.equal(undefined);
});

Then(
  /^within (\d+) seconds of the (fault|heal) the queen logs "([^"]+)"$/,
  async function (this: RbeeWorld, s: string, edge: 'fault' | 'heal', event: string) {
    const stack = await this.theStack();
    const fault = this.theFault();
    const since = edge === 'fault' ? fault.appliedAt : fault.healedAt!;
    const line = await eventually(
      () => {
        const l = stack.logs('queen').find((x) => x.event === event && Date.parse(x.ts) >= since);
        expect(l, `a "${event}" line in the queen's log since the ${edge}`).to.not.equal(undefined);
        return l!;
      },
      { within: leftOf(since, Number(s) * 1000), what: `the queen to log ${event}` },
    );
    this.measure(`storage ${edge} → queen logs ${event}`, Date.parse(line.ts) - since);
  },
);

Then(
  /^within (\d+) seconds of the heal the queen's registry database lists the hives (.+), each at the address the queen lists, and every hive it held before$/,
  async function (this: RbeeWorld, s: string, list: string) {
    const stack = await this.theStack();
    const fault = this.theFault();
    const before = this.recall<RegistryRow[]>('registry before');
    const rows = await eventually(
      async () => {
        const r = await registryRows(stack);
        expectHives(r, namesIn(list), `hives in the queen's ${QUEEN_DB}`);
        return r;
      },
      {
        within: leftOf(fault.healedAt!, Number(s) * 1000),
        what: `the queen to write ${list} to its registry database`,
      },
    );
    this.measure('storage heal → registry written', Date.now() - fault.healedAt!);
    const listed = (await stack.queen.hives()).json.nodes as RegistryRow[];
    for (const r of rows) {
      expect(r.url, `${r.node_name}'s address on disk vs. in the queen`).to.equal(
        listed.find((n) => n.node_name === r.node_name)?.url,
      );
    }
    for (const b of before) {
      expect(rows, `${b.node_name} was on disk before the fault`).to.deep.include(b);
    }
  },
);

Then(
  /^within (\d+) seconds the queen lists the hives (.+)$/,
  async function (this: RbeeWorld, s: string, list: string) {
    const stack = await this.theStack();
    await eventually(
      async () => {
        const r = await stack.queen.hives();
        expectHives(r.json?.nodes ?? [], namesIn(list), `the queen's registry: ${r.text}`);
      },
      { within: Number(s) * 1000, what: `the queen to list ${list}` },
    );
  },
);
