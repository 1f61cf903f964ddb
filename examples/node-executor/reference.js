'use strict';
// The conformance `reference` executor type in JavaScript, written from its
// specification in the README ("The reference executor"), not from the Python
// source: the conformance suite's differential mode proves the two equal.
//
//   node reference.js [--port N] [--host H]

const { setTimeout: sleep } = require('node:timers/promises');
const { PayloadError } = require('./payloads');
const { runExecutors } = require('./service');

const MAX_WAIT_MS = 60000; // the longest a Ref wait waits

function integer(value, what) {
  if (!Number.isSafeInteger(value)) {
    throw new PayloadError(`${what} must be an integer, got ${JSON.stringify(value)}`.slice(0, 200));
  }
  return value;
}

/** A Ref with its defaults: {"key": "", "op": "", "value": 0}. */
function toRef(message) {
  if (!message || typeof message !== 'object' || Array.isArray(message)) {
    throw new PayloadError('Ref: expected a JSON object');
  }
  for (const key of Object.keys(message)) {
    if (!['key', 'op', 'value'].includes(key)) throw new PayloadError(`Ref: unexpected field '${key}'`);
  }
  return { key: '', op: '', value: 0, ...message };
}

class Reference {
  static handlers = { Ref: 'onRef', 'stepline.v1.MessageBatch': 'onBatch' };
  static responseHandlers = { Ref: { RefAnswer: 'onAnswer' } };
  static sends = ['Ref'];
  static yields = ['RefOutput'];

  constructor() {
    this.log = [];
    this.pad = '';
    this.total = 0;
  }

  async onRef(message, ctx) {
    const ref = toRef(message);
    const value = integer(ref.value, 'Ref.value');
    switch (ref.op) {
      case 'add':
        this.total += value;
        this.log.push(`add:${value}`);
        ctx.sendMessage('Ref', { key: '', op: 'add', value: this.total });
        break;
      case 'ask':
        this.log.push(`ask:${value}`);
        ctx.requestInfo('Ref', { key: ref.key, op: 'ask', value }, 'RefAnswer');
        break;
      case 'read': {
        const read = ctx.getSharedState(ref.key) ?? 0;
        this.total += integer(read, `shared state '${ref.key}'`);
        this.log.push(`read:${ref.key}:${read}`);
        break;
      }
      case 'write':
        ctx.setSharedState(ref.key, 'integer', value);
        this.log.push(`write:${ref.key}:${value}`);
        break;
      case 'wait': // a slow handler, for the late-call check
        if (value < 0 || value > MAX_WAIT_MS) {
          throw new RangeError(`Ref: wait takes 0 to ${MAX_WAIT_MS} ms, got ${value}`);
        }
        await sleep(value, undefined, { signal: ctx.signal });
        this.log.push(`wait:${value}`);
        break;
      case 'pad':
        this.pad = 'x'.repeat(value);
        this.log.push(`pad:${value}`);
        break;
      default:
        throw new RangeError(`Ref: unknown op ${JSON.stringify(ref.op)}`.slice(0, 60));
    }
  }

  async onBatch(messages, ctx) {
    const values = messages.map((m) => integer(toRef(m).value, 'Ref.value'));
    const sum = values.reduce((a, b) => a + b, 0);
    this.total += sum;
    this.log.push(`batch:${values.length}:${sum}`);
    ctx.yieldOutput('RefOutput', { total: this.total });
  }

  async onAnswer(request, answer, ctx) {
    const value = integer({ value: 0, ...answer }.value, 'RefAnswer.value');
    this.total += value;
    this.log.push(`answer:${toRef(request).value}:${value}`);
    ctx.yieldOutput('RefOutput', { total: this.total });
  }

  save() {
    return { log: this.log, pad: this.pad, total: this.total };
  }

  restore(state) {
    const { log, pad, total } = state;
    const strings = Array.isArray(log) && log.every((e) => typeof e === 'string');
    if (!strings || typeof pad !== 'string' || !Number.isSafeInteger(total)) {
      throw new PayloadError('reference.state: expected {"log": [str], "pad": str, "total": int}');
    }
    this.log = [...log];
    this.pad = pad;
    this.total = total;
  }
}

if (require.main === module) {
  runExecutors({ reference: Reference }).catch((err) => {
    console.error(`stepline node executor: ${err.message}`);
    process.exit(1);
  });
}

module.exports = { Reference };
