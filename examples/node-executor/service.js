'use strict';
// A Stepline ExecutorService in JavaScript, loading the contract straight from
// protos/ (no copied or generated code). It mirrors the Python SDK's
// behaviour (sdk/stepline/host.py and serve.py), which is the reference. This
// module serves it over gRPC; the behaviour is host.js's, the Session stream
// session.js's, the spans spans.js's, TLS and tokens security.js's:
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
//   with reason STALE_EPOCH in the status details (fencing.js);
// - past a call's deadline (or once the caller cancels it) ctx.signal is
//   aborted, ctx refuses any more changes and the call's result is dropped
//   (deadlines.js): a handler should pass ctx.signal on and stop.
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
// in the gRPC metadata, or in a Session request's trace_context) in a server
// span, and each handler call gets a span of
// its own, through @opentelemetry/api. They are no-ops until the process
// registers an OpenTelemetry SDK (for example @opentelemetry/sdk-node, which
// reads the same OTEL_* variables as the runner).

const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { ExecutorHost, MAX_MESSAGE_BYTES, MAX_STATE_BYTES, toStatus } = require('./host');
const { PayloadError, canonicalJson } = require('./payloads');
const { NonRetryableError } = require('./retry');
const security = require('./security');
const { unarySignal } = require('./deadlines');
const { MAX_SESSION_CALLS, WIRE_BYTES, session } = require('./session');
const { serverSpan } = require('./spans');

const PROTOS = path.resolve(__dirname, '..', '..', 'protos');

function loadExecutorService() {
  const definition = protoLoader.loadSync('stepline/v1/executor.proto', {
    includeDirs: [PROTOS],
    keepCase: true, // field names as in the .proto: run_id, executor_id...
    longs: Number, // superstep is an int64; supersteps never get near 2^53
    defaults: true, // absent scalars read as '' / 0 / [], an unset message as null
  });
  const service = grpc.loadPackageDefinition(definition).stepline.v1.ExecutorService;
  // A Session request keeps its size on the wire: session.js bounds the
  // bytes of the calls that wait for a slot.
  const method = service.service.Session;
  const parse = method.requestDeserialize;
  method.requestDeserialize = (bytes) => Object.assign(parse(bytes), { [WIRE_BYTES]: bytes.length });
  return service;
}

/** A gRPC unary handler around a (possibly async) function of the request,
 * in a server span that continues the caller's trace. */
function unary(name, fn) {
  return (call, callback) => {
    serverSpan(name, call.metadata, () => fn(call.request, call)).then(
      (response) => callback(null, response),
      (err) => callback(toStatus(err)),
    );
  };
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
    Execute: unary('Execute', (request, call) => {
      const { signal, done } = unarySignal(call);
      return executorHost.execute(request, signal).finally(done);
    }),
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
  loadExecutorService,
  runExecutors,
  serveExecutors,
};
