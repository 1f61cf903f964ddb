'use strict';
// A Node service (examples/node-executor/service.js) whose Session stream runs
// at most 4 Execute calls at once, for tests/e2e/test_node_session.py:
//
// - a `held` executor's Hold message waits until a Release arrives (or its
//   call is cancelled), counting how many Holds wait at once; it yields
//   {"most": the most seen so far};
// - Probe answers once 4 Holds wait (the cap), yielding {"active", "most"};
// - Begun {"count": n} answers once n Holds have begun, yielding {"active",
//   "most", "begun": the Holds begun, in order of their message's "n"};
// - Release lets every Hold go, now and later.
//
//   node held.js [--port N]

const { parseArgs } = require('node:util');
const { serveExecutors } = require('../../examples/node-executor/service');

const CAP = 4;
let active = 0;
let most = 0;
let full;
const filled = new Promise((resolve) => (full = resolve));
let release;
const released = new Promise((resolve) => (release = resolve));
const begun = [];
const waits = []; // [count, resolve] of the Begun calls waiting
const aborted = (signal) => new Promise((resolve) => signal.addEventListener('abort', resolve));

class Held {
  static handlers = { Hold: 'onHold', Probe: 'onProbe', Begun: 'onBegun', Release: 'onRelease' };
  static sends = [];
  static yields = ['Count'];

  async onHold(message, ctx) {
    active += 1;
    most = Math.max(most, active);
    if (active === CAP) full();
    begun.push(message.n ?? 0);
    waits.filter(([count]) => begun.length >= count).forEach(([, resolve]) => resolve());
    try {
      await Promise.race([released, aborted(ctx.signal)]);
    } finally {
      active -= 1;
    }
    ctx.yieldOutput('Count', { most });
  }

  async onProbe(_message, ctx) {
    await filled;
    ctx.yieldOutput('Count', { active, most });
  }

  async onBegun(message, ctx) {
    if (begun.length < message.count) await new Promise((resolve) => waits.push([message.count, resolve]));
    ctx.yieldOutput('Count', { active, most, begun });
  }

  onRelease() {
    release();
  }

  save() {
    return {};
  }

  restore() {}
}

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
serveExecutors({ held: Held }, { port: Number(values.port), maxSessionCalls: CAP }).then(
  ({ port }) => console.log(`stepline executors listening on 127.0.0.1:${port} (plaintext)`),
  (err) => {
    console.error(`held: ${err.message}`);
    process.exit(1);
  },
);
process.once('SIGTERM', () => process.exit(0));
