'use strict';
// A Node service (examples/node-executor/service.js) whose Session stream runs
// at most 4 Execute calls at once, for tests/e2e/test_node_session.py:
//
// - a `held` executor's Hold message waits until a Release arrives, counting
//   how many Holds wait at once; it yields {"most": the most seen so far};
// - Probe answers once 4 Holds wait (the cap), yielding {"active", "most"};
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

class Held {
  static handlers = { Hold: 'onHold', Probe: 'onProbe', Release: 'onRelease' };
  static sends = [];
  static yields = ['Count'];

  async onHold(_message, ctx) {
    active += 1;
    most = Math.max(most, active);
    if (active === CAP) full();
    try {
      await released;
    } finally {
      active -= 1;
    }
    ctx.yieldOutput('Count', { most });
  }

  async onProbe(_message, ctx) {
    await filled;
    ctx.yieldOutput('Count', { active, most });
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
