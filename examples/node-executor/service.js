'use strict';
// A Stepline ExecutorService in JavaScript, loading the contract straight from
// protos/ (no copied or generated code). It mirrors the Python SDK's
// behaviour (sdk/stepline/host.py and serve.py), which is the reference:
//
// - one object per (run_id, executor_id), made from the executor type's class;
// - Execute runs the handlers in message order and returns what they did; a
//   handler that throws comes back in ExecuteResponse.error, not as a status
//   (a NonRetryableError, retry.js, with non_retryable set: never retried);
// - unknown executor type -> NOT_FOUND; SaveCheckpoint for a pair it holds no
//   object for -> FAILED_PRECONDITION; a state it cannot take -> INVALID_ARGUMENT;
//   a state over MAX_STATE_BYTES -> RESOURCE_EXHAUSTED (the run then fails);
// - states are JSON objects; incarnation_id is new every time the process starts;
// - a call with an older epoch than one seen for its run -> FAILED_PRECONDITION
//   with reason STALE_EPOCH in the status details (fencing.js).
//
// An executor type is a class:
//
//   class Counter {
//     static handlers = { integer: 'add' };   // payload type name -> method
//     static sends = ['integer'];             // type names it sends (Describe)
//     static yields = [];                     // type names it yields (Describe)
//     constructor(executorId) { this.total = 0; }
//     async add(n, ctx) { this.total += n; ctx.sendMessage('integer', this.total); }
//     save() { return { total: this.total }; }          // -> a JSON object
//     restore(state) { this.total = state.total; }      // throw PayloadError if unusable
//   }
//
// A '*' handler receives the undecoded payload ({type_name, content_type, data});
// a 'stepline.v1.MessageBatch' handler (fan-in) the JSON values of the batch.
// Requests for input: ctx.requestInfo(type, data, responseType), answered by
//     static responseHandlers = { RequestType: { ResponseType: 'method' } };
//     async method(request, response, ctx) { ... }
// Shared state: ctx.getSharedState(key), ctx.setSharedState(key, type, value).
//
// Tracing: each call continues the caller's W3C trace context (`traceparent`
// in the gRPC metadata) in a server span, and each handler call gets a span of
// its own, through @opentelemetry/api. They are no-ops until the process
// registers an OpenTelemetry SDK (for example @opentelemetry/sdk-node, which
// reads the same OTEL_* variables as the runner).

const crypto = require('node:crypto');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const otel = require('@opentelemetry/api');
const { version } = require('./package.json');
const { EpochFence, StaleEpoch } = require('./fencing');
const { NonRetryableError } = require('./retry');
const {
  BATCH_TYPE,
  PayloadError,
  canonicalJson,
  decodeBatch,
  decodeJson,
  jsonPayload,
  withThousands,
} = require('./payloads');
const security = require('./security');

const PROTOS = path.resolve(__dirname, '..', '..', 'protos');
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

function loadExecutorService() {
  const definition = protoLoader.loadSync('stepline/v1/executor.proto', {
    includeDirs: [PROTOS],
    keepCase: true, // field names as in the .proto: run_id, executor_id...
    longs: Number, // superstep is an int64; supersteps never get near 2^53
    defaults: true, // absent scalars read as '' / 0 / [], an unset message as null
  });
  return grpc.loadPackageDefinition(definition).stepline.v1.ExecutorService;
}

const MAX_DELAY_MS = 366 * 86400 * 1000;
// Execute calls one Session stream runs at once, as the Python SDK's
// MAX_SESSION_CALLS: past it the stream is not read until a call ends.
const MAX_SESSION_CALLS = 256;

/** What a handler can do besides changing its own state; collected into the ExecuteResponse. */
class Context {
  constructor(request, result) {
    this.runId = request.run_id;
    this.executorId = request.executor_id;
    this.superstep = request.superstep;
    this.attempt = request.attempt;
    this.sharedState = request.shared_state;
    this._result = result;
  }

  /**
   * Send a message along the edges (or to one connected target); delivered
   * next superstep, or with `delayMs` as a durable timer once that much
   * time has passed (the runner keeps it in the run's checkpoint).
   */
  sendMessage(typeName, value, targetId = '', { delayMs } = {}) {
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
    this._result.outputs.push(jsonPayload(typeName, value));
  }

  /** The JSON value of shared-state `key` as of the start of this superstep, or undefined. */
  getSharedState(key) {
    const payload = this.sharedState?.[key];
    return payload ? decodeJson(payload) : undefined;
  }

  /** Write shared-state `key`; other executors see it from the next superstep on. */
  setSharedState(key, typeName, value) {
    this._result.shared_state_writes.push({ key, value: jsonPayload(typeName, value) });
  }

  /** Remove shared-state `key` from the next superstep on. */
  deleteSharedState(key) {
    this._result.shared_state_writes.push({ key, delete: true });
  }

  /**
   * Ask for outside input: the class's response handler for (typeName,
   * responseType) receives the answer in a later superstep. Without one this
   * throws at once (the answer would have nowhere to go). An empty
   * `requestId` lets the runner choose one.
   */
  requestInfo(typeName, data, responseType, requestId = '') {
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
      features: { state_with_execute: this.fastPath, session: this.fastPath },
    };
  }

  async execute(request) {
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
    const ctx = new Context(request, result);
    const answers = executor.constructor.responseHandlers ?? {};
    ctx._answerable = (q, r) => Object.hasOwn(answers, q) && Object.hasOwn(answers[q], r);
    try {
      // Responses first, then messages, each in order (as the Python SDK does).
      for (const answer of request.responses) {
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

function toStatus(err) {
  if (err instanceof StaleEpoch) return { code: err.code, details: err.message, metadata: err.metadata };
  if (err instanceof StatusError) return { code: err.code, details: err.message };
  if (err instanceof PayloadError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  console.error(err);
  return { code: grpc.status.UNKNOWN, details: `${err?.name}: ${err?.message}` };
}

const tracer = otel.trace.getTracer('stepline-node-executor');

/** Reads trace context keys (traceparent, tracestate) from gRPC metadata. */
const metadataGetter = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).map(String);
    return values.length ? values : undefined;
  },
};

function handlerAttributes(request) {
  return {
    'stepline.executor_type': request.executor_type,
    'stepline.executor_id': request.executor_id,
    'stepline.run_id': request.run_id,
    'stepline.superstep': Number(request.superstep),
  };
}

/** Run `fn` (possibly async) in a span `name`, a child of the active context. */
function traced(name, attributes, fn, options = {}) {
  return tracer.startActiveSpan(name, { attributes, ...options }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.setStatus({ code: otel.SpanStatusCode.ERROR, message: String(err?.message ?? err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** A gRPC unary handler around a (possibly async) function of the request,
 * in a server span that continues the caller's trace. */
function unary(name, fn) {
  return (call, callback) => {
    const parent = otel.propagation.extract(otel.ROOT_CONTEXT, call.metadata, metadataGetter);
    const attributes = { 'rpc.system': 'grpc', 'rpc.method': name };
    otel.context
      .with(parent, () =>
        traced(`ExecutorService/${name}`, attributes, () => fn(call.request), {
          kind: otel.SpanKind.SERVER,
        }),
      )
      .then(
        (response) => callback(null, response),
        (err) => callback(toStatus(err)),
      );
  };
}

/** The Session stream: each Execute request answered, as it finishes, by the
 * reply with its call_id: the unary Execute's response, or its status. At most
 * `maxCalls` run at once: past it the stream is paused (not read), and HTTP/2
 * flow control holds the caller back, so a caller cannot make the service
 * start a call per request it sends, without bound. */
function session(executorHost, call, maxCalls) {
  if (!executorHost.fastPath) {
    call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'this service serves unary calls' });
    return;
  }
  const pending = new Set();
  call.on('data', (request) => {
    const done = executorHost
      .execute(request.execute ?? {})
      .then(
        (execute) => ({ call_id: request.call_id, execute }),
        (err) => {
          const { code, details } = toStatus(err);
          // The ErrorInfo reason the unary status would carry (a stale epoch).
          const reason = err instanceof StaleEpoch ? 'STALE_EPOCH' : '';
          return { call_id: request.call_id, code, message: details, reason };
        },
      )
      .then((reply) => call.write(reply))
      .finally(() => {
        pending.delete(done);
        if (pending.size < maxCalls) call.resume();
      });
    pending.add(done);
    if (pending.size >= maxCalls) call.pause();
  });
  call.on('end', () => Promise.allSettled([...pending]).then(() => call.end()));
  call.on('error', () => {}); // the runner went away: nothing left to answer
}

/**
 * Serve `types` (executor type name -> class); resolves once bound, with the port.
 * `secured` ({tlsCert, tlsKey, clientCa, token}, see security.js): serve TLS,
 * require a client certificate and/or a token; omitted: plaintext. `fastPath`
 * false: advertise and answer only the unary calls. `maxSessionCalls`: Execute
 * calls one Session stream runs at once (MAX_SESSION_CALLS).
 */
function serveExecutors(
  types,
  {
    host = '127.0.0.1',
    port = 0,
    secured = {},
    fastPath = true,
    maxSessionCalls = MAX_SESSION_CALLS,
  } = {},
) {
  const executorHost = new ExecutorHost(types, { fastPath });
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    interceptors: security.interceptors(secured),
  });
  server.addService(loadExecutorService().service, {
    Describe: unary('Describe', () => executorHost.describe()),
    Execute: unary('Execute', (request) => executorHost.execute(request)),
    SaveCheckpoint: unary('SaveCheckpoint', (request) => executorHost.saveCheckpoint(request)),
    RestoreCheckpoint: unary('RestoreCheckpoint', (request) =>
      executorHost.restoreCheckpoint(request),
    ),
    EndRun: unary('EndRun', (request) => executorHost.endRun(request)),
    Session: (call) => session(executorHost, call, maxSessionCalls),
  });
  return new Promise((resolve, reject) => {
    const credentials = security.serverCredentials(secured);
    server.bindAsync(`${host}:${port}`, credentials, (err, bound) =>
      err ? reject(err) : resolve({ server, host: executorHost, port: bound }),
    );
  });
}

/**
 * Serve `types` from the command line (`--host H --port N`, defaults
 * 127.0.0.1 and 0 = a free port) until SIGTERM or Ctrl-C. Prints
 * `stepline executors listening on HOST:PORT (how)` once serving, like the
 * Python SDK. TLS and caller authentication: `--tls-cert`, `--tls-key`,
 * `--tls-client-ca`, `--token-file`, or the STEPLINE_* variables (security.js).
 */
async function runExecutors(types, argv = process.argv.slice(2)) {
  const files = Object.fromEntries(Object.keys(security.OPTIONS).map((o) => [o, { type: 'string' }]));
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      ...files,
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be a port number, got '${values.port}'`);
  }
  const secured = security.securityFrom(values);
  const warning = security.exposureWarning(values.host, secured);
  if (warning) console.error(`stepline executors: ${warning}`);
  // As the Python SDK's run_executors: STEPLINE_FAST_PATH=off serves the unary path only.
  const fastPath = (process.env.STEPLINE_FAST_PATH ?? 'on') !== 'off';
  const { server, port: bound } = await serveExecutors(types, {
    host: values.host,
    port,
    secured,
    fastPath,
  });
  console.log(`stepline executors listening on ${values.host}:${bound} (${security.summary(secured)})`);
  const stop = () => {
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref(); // a grace period, as the Python SDK's
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

module.exports = {
  ExecutorHost,
  MAX_SESSION_CALLS,
  MAX_STATE_BYTES,
  NonRetryableError,
  PayloadError,
  canonicalJson,
  runExecutors,
  serveExecutors,
};
