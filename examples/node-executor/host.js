'use strict';
// The ExecutorService's behaviour without the transport, as the Python SDK's
// sdk/stepline/host.py: one object per (run_id, executor_id), handlers run in
// message order, states saved and restored, runs fenced by epoch (fencing.js).
// service.js puts it behind gRPC; see there for what an executor type is.

const crypto = require('node:crypto');
const grpc = require('@grpc/grpc-js');
const { version } = require('./package.json');
const { EpochFence, StaleEpoch } = require('./fencing');
const { NonRetryableError } = require('./retry');
const {
  BATCH_TYPE,
  PayloadError,
  decodeBatch,
  decodeJson,
  jsonPayload,
  withThousands,
} = require('./payloads');
const { handlerAttributes, traced } = require('./spans');

// Same caps as sdk/stepline/limits.py: states may be far larger than gRPC's 4 MiB default.
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
// Largest state SaveCheckpoint sends: the message cap less room for the rest of
// the response. Larger data belongs outside the state (save a reference to it).
const MAX_STATE_BYTES = MAX_MESSAGE_BYTES - 1024 * 1024;

/** An error that must reach the caller as this gRPC status. */
class StatusError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const MAX_DELAY_MS = 366 * 86400 * 1000;
// Never aborted: the signal of a call without a deadline.
const NEVER = new AbortController().signal;

/**
 * What a handler can do besides changing its own state; collected into the
 * ExecuteResponse. `signal` (an AbortSignal) is aborted once the runner
 * gives up on the call: its deadline passed (reason a 'TimeoutError'
 * DOMException) or it was cancelled ('AbortError'). Pass it on to what the
 * handler awaits (fetch, timers) and stop: from then on every method here
 * throws its reason, and nothing of the call is applied (the Python SDK
 * cancels the handler's task instead; grpc-js cannot stop a handler).
 */
class Context {
  constructor(request, result, signal = NEVER) {
    this.runId = request.run_id;
    this.executorId = request.executor_id;
    this.superstep = request.superstep;
    this.attempt = request.attempt;
    this.sharedState = request.shared_state;
    this.signal = signal;
    this._result = result;
  }

  /**
   * Send a message along the edges (or to one connected target); delivered
   * next superstep, or with `delayMs` as a durable timer once that much
   * time has passed (the runner keeps it in the run's checkpoint).
   */
  sendMessage(typeName, value, targetId = '', { delayMs } = {}) {
    this.signal.throwIfAborted();
    const payload = jsonPayload(typeName, value);
    const message = { source_id: this.executorId, target_id: targetId, payload };
    if (delayMs !== undefined) {
      if (!(delayMs >= 0 && delayMs <= MAX_DELAY_MS)) {
        throw new RangeError(`delayMs is ${delayMs}: it must be from 0 to 366 days`);
      }
      const seconds = Math.floor(delayMs / 1000);
      message.delay = { seconds, nanos: Math.round((delayMs - seconds * 1000) * 1e6) };
    }
    this._result.sent.push(message);
  }

  /** Yield a run output. */
  yieldOutput(typeName, value) {
    this.signal.throwIfAborted();
    this._result.outputs.push(jsonPayload(typeName, value));
  }

  /** The JSON value of shared-state `key` as of the start of this superstep, or undefined. */
  getSharedState(key) {
    const payload = this.sharedState?.[key];
    return payload ? decodeJson(payload) : undefined;
  }

  /** Write shared-state `key`; other executors see it from the next superstep on. */
  setSharedState(key, typeName, value) {
    this.signal.throwIfAborted();
    this._result.shared_state_writes.push({ key, value: jsonPayload(typeName, value) });
  }

  /** Remove shared-state `key` from the next superstep on. */
  deleteSharedState(key) {
    this.signal.throwIfAborted();
    this._result.shared_state_writes.push({ key, delete: true });
  }

  /**
   * Ask for outside input: the class's response handler for (typeName,
   * responseType) receives the answer in a later superstep. Without one this
   * throws at once (the answer would have nowhere to go). An empty
   * `requestId` lets the runner choose one.
   */
  requestInfo(typeName, data, responseType, requestId = '') {
    this.signal.throwIfAborted();
    if (!this._answerable(typeName, responseType)) {
      throw new TypeError(
        `executor '${this.executorId}' asked for a response of type '${responseType}' to a ` +
          `request of type '${typeName}', but no response handler takes that pair`,
      );
    }
    const request = { request_id: requestId, data: jsonPayload(typeName, data) };
    this._result.requests.push({ ...request, response_type: responseType });
  }
}

/** The ExecutorService's behaviour, without the transport. */
class ExecutorHost {
  // fastPath: advertise and answer ExecuteRequest.return_state (the state comes
  // back with Execute's reply); off, SaveCheckpoint alone carries states.
  constructor(types, { fastPath = true } = {}) {
    if (Object.keys(types).length === 0) throw new Error('host at least one executor type');
    this.types = types;
    this.fastPath = fastPath;
    this.runs = new Map(); // run_id -> Map(executor_id -> object)
    // Fresh per process: a new id tells the runner this service lost its memory.
    this.incarnationId = crypto.randomUUID().replaceAll('-', '');
    // Refuses the calls of a runner another one superseded (executor.proto, "Fencing").
    // A run it forgets (un-ended too long) takes its objects with it.
    this.fence = new EpochFence({ onForget: (runId) => this.runs.delete(runId) });
  }

  describe() {
    const executorTypes = Object.entries(this.types).map(([name, cls]) => ({
      name,
      input_types: Object.keys(cls.handlers).sort(),
      output_types: [...(cls.sends ?? [])].sort(),
      yield_types: [...(cls.yields ?? [])].sort(),
      response_types: [
        ...new Set(Object.values(cls.responseHandlers ?? {}).flatMap((r) => Object.keys(r))),
      ].sort(),
    }));
    return {
      incarnation_id: this.incarnationId,
      executor_types: executorTypes,
      sdk: `stepline-node-example/${version}`,
      features: {
        state_with_execute: this.fastPath,
        session: this.fastPath,
        session_end_run: this.fastPath,
      },
    };
  }

  // `signal`: aborted when the runner gives up on the call (deadlines.js).
  async execute(request, signal = NEVER) {
    this.fence.admit(request.run_id, request.epoch);
    let executor = this._object(request.run_id, request.executor_id);
    if (!executor) {
      executor = this._create(request.executor_type, request.executor_id);
      this._put(request.run_id, request.executor_id, executor);
    }
    const result = {
      sent: [],
      outputs: [],
      requests: [],
      shared_state_writes: [],
      incarnation_id: this.incarnationId,
    };
    const ctx = new Context(request, result, signal);
    const answers = executor.constructor.responseHandlers ?? {};
    ctx._answerable = (q, r) => Object.hasOwn(answers, q) && Object.hasOwn(answers[q], r);
    try {
      // Responses first, then messages, each in order (as the Python SDK does).
      for (const answer of request.responses) {
        signal.throwIfAborted();
        const asked = answer.request?.data ?? { type_name: '' };
        const response = answer.response ?? { type_name: '' };
        if (!ctx._answerable(asked.type_name, response.type_name)) {
          throw new PayloadError(
            `executor '${request.executor_id}' has no response handler for a ` +
              `'${response.type_name}' answer to a '${asked.type_name}' request`,
          );
        }
        const method = answers[asked.type_name][response.type_name];
        await traced(`respond ${request.executor_type}.${method}`, handlerAttributes(request), () =>
          executor[method](decodeJson(asked), decodeJson(response), ctx),
        );
      }
      for (const message of request.messages) {
        signal.throwIfAborted();
        const payload = message.payload ?? { type_name: '', content_type: '', data: Buffer.alloc(0) };
        const { handlers } = executor.constructor;
        const exact = Object.hasOwn(handlers, payload.type_name);
        const method = exact ? handlers[payload.type_name] : handlers['*'];
        if (!method) {
          throw new PayloadError(
            `executor '${request.executor_id}' has no handler for type '${payload.type_name}'; ` +
              `it takes: ${Object.keys(handlers).sort().join(', ')}`,
          );
        }
        let value = payload;
        if (exact) value = payload.type_name === BATCH_TYPE ? decodeBatch(payload) : decodeJson(payload);
        await traced(`handle ${request.executor_type}.${method}`, handlerAttributes(request), () =>
          executor[method](value, ctx),
        );
      }
    } catch (err) {
      if (signal.aborted) throw abandoned(signal); // the runner has given up on it
      // A handler's failure fails the run with this error; the call itself succeeded.
      const error = err instanceof Error ? err : new Error(String(err));
      return {
        incarnation_id: this.incarnationId,
        error: {
          type: error.name,
          message: error.message,
          traceback: error.stack ?? '',
          executor_id: request.executor_id,
          non_retryable: error instanceof NonRetryableError,
        },
      };
    }
    if (signal.aborted) throw abandoned(signal); // nothing of it applied, its state not sent
    if (request.return_state && this.fastPath) this._returnState(request, result);
    return result;
  }

  /** What SaveCheckpoint would answer now, into result.checkpoint; left unset
   * when SaveCheckpoint would fail (its status then says why) or the reply
   * would grow past the cap with it. */
  _returnState(request, result) {
    let saved;
    try {
      saved = this.saveCheckpoint({
        run_id: request.run_id,
        executor_id: request.executor_id,
        executor_type: request.executor_type,
        known_state_hash: request.known_state_hash,
      });
    } catch {
      return;
    }
    const others = result.sent.reduce((n, m) => n + (m.payload?.data?.length ?? 0), 0) +
      result.outputs.reduce((n, p) => n + (p.data?.length ?? 0), 0);
    if ((saved.state?.data.length ?? 0) + others <= MAX_STATE_BYTES) result.checkpoint = saved;
  }

  saveCheckpoint(request) {
    this.fence.admit(request.run_id, request.epoch);
    const executor = this._object(request.run_id, request.executor_id);
    if (!executor) {
      throw new StatusError(
        grpc.status.FAILED_PRECONDITION,
        `no state for run '${request.run_id}', executor '${request.executor_id}' in this ` +
          `service (incarnation ${this.incarnationId}): it never ran here, its run ended, ` +
          'or the service restarted',
      );
    }
    const type = request.executor_type || request.executor_id;
    const state = jsonPayload(`${type}.state`, executor.save());
    if (state.data.length > MAX_STATE_BYTES) {
      // Worded as the Python SDK's StateTooLarge (sdk/stepline/host.py).
      throw new StatusError(
        grpc.status.RESOURCE_EXHAUSTED,
        `the state of executor '${request.executor_id}' is ${withThousands(state.data.length)} ` +
          `bytes, over the cap of ${withThousands(MAX_STATE_BYTES)}; keep large data outside ` +
          'the state and save a reference to it',
      );
    }
    const hash = crypto.createHash('sha256').update(state.data).digest('hex');
    if (request.known_state_hash && request.known_state_hash === hash) {
      return { unchanged: true, incarnation_id: this.incarnationId };
    }
    return { state, incarnation_id: this.incarnationId };
  }

  restoreCheckpoint(request) {
    this.fence.admit(request.run_id, request.epoch);
    const executor = this._create(request.executor_type, request.executor_id);
    // An unset state (or one without bytes) means a fresh object.
    if (request.state && request.state.data.length > 0) {
      const state = decodeJson(request.state);
      if (!state || typeof state !== 'object' || Array.isArray(state)) {
        throw new PayloadError('an executor state must be a JSON object');
      }
      executor.restore(state);
    }
    this._put(request.run_id, request.executor_id, executor);
    return { incarnation_id: this.incarnationId };
  }

  endRun(request) {
    if (!this.fence.end(request.run_id, request.epoch)) return { released: 0 }; // a superseded runner's
    const objects = this.runs.get(request.run_id);
    this.runs.delete(request.run_id);
    return { released: objects ? objects.size : 0 };
  }

  _create(executorType, executorId) {
    const name = executorType || executorId;
    const cls = Object.hasOwn(this.types, name) ? this.types[name] : undefined;
    if (!cls) {
      throw new StatusError(
        grpc.status.NOT_FOUND,
        `this service hosts no executor type '${name}'; ` +
          `it hosts: ${Object.keys(this.types).sort().join(', ')}`,
      );
    }
    return new cls(executorId);
  }

  _object(runId, executorId) {
    return this.runs.get(runId)?.get(executorId);
  }

  _put(runId, executorId, executor) {
    if (!this.runs.has(runId)) this.runs.set(runId, new Map());
    this.runs.get(runId).set(executorId, executor);
  }
}

/** The status of a call the runner gave up on (`signal` aborted). */
function abandoned(signal) {
  const late = signal.reason?.name === 'TimeoutError';
  return new StatusError(
    late ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED,
    late ? 'Deadline Exceeded' : 'Cancelled',
  );
}

/** The gRPC status an error of the host is sent as. */
function toStatus(err) {
  if (err instanceof StaleEpoch) return { code: err.code, details: err.message, metadata: err.metadata };
  if (err instanceof StatusError) return { code: err.code, details: err.message };
  if (err instanceof PayloadError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  console.error(err);
  return { code: grpc.status.UNKNOWN, details: `${err?.name}: ${err?.message}` };
}

module.exports = { ExecutorHost, MAX_MESSAGE_BYTES, MAX_STATE_BYTES, StatusError, toStatus };
