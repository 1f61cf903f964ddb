'use strict';
// Payloads as the Python SDK writes them (sdk/stepline/payloads.py): JSON with
// sorted keys and compact separators, and the MessageBatch a fan-in delivers.

const JSON_TYPE = 'application/json';

/** A payload that cannot be decoded as what the executor expects. */
class PayloadError extends Error {
  get name() {
    return 'PayloadError';
  }
}

/**
 * JSON as the Python SDK writes it (sort_keys, compact separators, non-ASCII
 * escaped), so equal values give equal bytes in both languages and the state
 * hash the runner keeps matches what we would send again.
 */
function canonicalJson(value) {
  const sorted = (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v;
  return JSON.stringify(value, sorted).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** 1234567 -> '1,234,567', as Python's f'{n:,}' writes it. */
function withThousands(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function jsonPayload(typeName, value) {
  return { type_name: typeName, content_type: JSON_TYPE, data: Buffer.from(canonicalJson(value)) };
}

function decodeJson(payload) {
  if ((payload.content_type || JSON_TYPE) !== JSON_TYPE) {
    throw new PayloadError(`${payload.type_name}: expected ${JSON_TYPE}, got ${payload.content_type}`);
  }
  if (!payload.data || payload.data.length === 0) return null;
  try {
    return JSON.parse(payload.data.toString('utf8'));
  } catch (err) {
    throw new PayloadError(`${payload.type_name}: invalid JSON: ${err.message}`);
  }
}

const BATCH_TYPE = 'stepline.v1.MessageBatch';

/** Protobuf wire format, just enough for a MessageBatch: (field number, bytes) of
 * each length-delimited field of `buffer`; other wire types are refused. */
function* lengthDelimited(buffer) {
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= buffer.length) throw new PayloadError(`${BATCH_TYPE}: truncated`);
      const byte = buffer[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new PayloadError(`${BATCH_TYPE}: varint too long`);
  };
  while (at < buffer.length) {
    const key = varint();
    if ((key & 7) !== 2) throw new PayloadError(`${BATCH_TYPE}: unexpected wire type ${key & 7}`);
    const size = varint();
    if (at + size > buffer.length) throw new PayloadError(`${BATCH_TYPE}: truncated`);
    yield [Math.floor(key / 8), buffer.subarray(at, at + size)];
    at += size;
  }
}

/** A MessageBatch payload -> the JSON values of its messages, in order. A fan-in
 * handler (`static handlers = { 'stepline.v1.MessageBatch': ... }`) gets these. */
function decodeBatch(payload) {
  const values = [];
  for (const [field, message] of lengthDelimited(payload.data ?? Buffer.alloc(0))) {
    if (field !== 1) continue; // MessageBatch.messages
    const inner = { type_name: '', content_type: '', data: Buffer.alloc(0) };
    for (const [f, bytes] of lengthDelimited(message)) {
      if (f !== 3) continue; // Message.payload
      for (const [g, value] of lengthDelimited(bytes)) {
        if (g === 1) inner.type_name = value.toString('utf8');
        if (g === 2) inner.content_type = value.toString('utf8');
        if (g === 3) inner.data = Buffer.from(value);
      }
    }
    values.push(decodeJson(inner));
  }
  return values;
}


module.exports = {
  BATCH_TYPE,
  JSON_TYPE,
  PayloadError,
  canonicalJson,
  decodeBatch,
  decodeJson,
  jsonPayload,
  withThousands,
};
