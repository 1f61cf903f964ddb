'use strict';
// Spans through @opentelemetry/api: a server span per call, continuing the
// caller's W3C trace context (`traceparent` in the gRPC metadata, or in a
// Session request's trace_context), and a span
// per handler call. No-ops until the process registers an OpenTelemetry SDK
// (tracing.js, or @opentelemetry/sdk-node).

const otel = require('@opentelemetry/api');

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

/** Run `fn` in the server span of a call to `name`, a child of the trace
 * context the call's `metadata` carries. */
function serverSpan(name, metadata, fn) {
  const parent = otel.propagation.extract(otel.ROOT_CONTEXT, metadata, metadataGetter);
  const attributes = { 'rpc.system': 'grpc', 'rpc.method': name };
  return otel.context.with(parent, () =>
    traced(`ExecutorService/${name}`, attributes, fn, { kind: otel.SpanKind.SERVER }),
  );
}

/** Run `fn` in the server span of an Execute on the Session stream: named as
 * the unary Execute's (and marked stepline.session), a child of the trace
 * context the request carries (`trace_context`, W3C keys). */
function sessionSpan(carrier, fn) {
  const parent = otel.propagation.extract(otel.ROOT_CONTEXT, carrier ?? {});
  const attributes = { 'rpc.system': 'grpc', 'rpc.method': 'Execute', 'stepline.session': true };
  return otel.context.with(parent, () =>
    traced('ExecutorService/Execute', attributes, fn, { kind: otel.SpanKind.SERVER }),
  );
}

module.exports = { handlerAttributes, serverSpan, sessionSpan, traced };
