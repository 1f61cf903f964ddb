'use strict';
// Turn tracing on in an executor service: `node -r ./tracing.js stage.js`.
//
// It follows the runner's variables: OTEL_TRACES_EXPORTER=console prints each
// span; OTEL_TRACES_EXPORTER=jsonl appends one JSON object per span to
// $STEPLINE_TRACES_FILE, in the Python SDK's shape (trace_id, span_id,
// parent_id, service...), so spans of every process can be joined by trace id.
// Anything else (or nothing) leaves tracing off. A real deployment would use
// @opentelemetry/sdk-node with its OTLP exporter instead; service.js works
// with either, as it only speaks @opentelemetry/api.

const fs = require('node:fs');

const names = (process.env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim());
const off = process.env.OTEL_SDK_DISABLED === 'true';

if (!off && (names.includes('jsonl') || names.includes('console'))) {
  const otel = require('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core');
  const {
    BasicTracerProvider,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
  } = require('@opentelemetry/sdk-trace-base');

  const service = process.env.OTEL_SERVICE_NAME || 'stepline-node-executor';
  const processors = [];
  if (names.includes('console')) processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
  if (names.includes('jsonl')) {
    const file = process.env.STEPLINE_TRACES_FILE;
    if (!file) throw new Error('OTEL_TRACES_EXPORTER=jsonl needs STEPLINE_TRACES_FILE=<file>');
    processors.push(new SimpleSpanProcessor(new JsonLinesExporter(file, service)));
  }
  otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  otel.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  otel.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: processors }));
}

function JsonLinesExporter(file, service) {
  const nanos = ([seconds, ns]) => seconds * 1e9 + ns;
  const kinds = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
  const statuses = ['UNSET', 'OK', 'ERROR'];
  return {
    export(spans, done) {
      const lines = spans.map((span) => {
        const { traceId, spanId } = span.spanContext();
        const parent = span.parentSpanContext;
        return `${JSON.stringify({
          name: span.name,
          service,
          trace_id: traceId,
          span_id: spanId,
          parent_id: parent ? parent.spanId : null,
          kind: kinds[span.kind],
          start_ns: nanos(span.startTime),
          end_ns: nanos(span.endTime),
          status: statuses[span.status.code],
          attributes: span.attributes,
        })}\n`;
      });
      fs.appendFileSync(file, lines.join(''));
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
    forceFlush: () => Promise.resolve(),
  };
}
