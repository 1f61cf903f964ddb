'use strict';
// Who may call this executor service, as the Python SDK's ServiceSecurity
// (sdk/stepline/service_security.py) does it:
//
// - tlsCert + tlsKey (PEM): serve TLS only;
// - clientCa (PEM): every caller must present a client certificate it signed
//   (mTLS): without one there is no connection at all (the TLS handshake fails);
// - token: every call must carry `authorization: Bearer <token>`, else it is
//   answered UNAUTHENTICATED before its request is read.
//
// From the command line (--tls-cert, --tls-key, --tls-client-ca, --token-file)
// or the same variables as the Python SDK (STEPLINE_EXECUTOR_TLS_CERT,
// STEPLINE_EXECUTOR_TLS_KEY, STEPLINE_EXECUTOR_CLIENT_CA,
// STEPLINE_EXECUTOR_TOKEN_FILE), each naming a file.

const crypto = require('node:crypto');
const fs = require('node:fs');
const tls = require('node:tls');
const grpc = require('@grpc/grpc-js');

const OPTIONS = {
  'tls-cert': 'STEPLINE_EXECUTOR_TLS_CERT',
  'tls-key': 'STEPLINE_EXECUTOR_TLS_KEY',
  'tls-client-ca': 'STEPLINE_EXECUTOR_CLIENT_CA',
  'token-file': 'STEPLINE_EXECUTOR_TOKEN_FILE',
};
const TOKEN = /^[!-~]+$/;
const REFUSED = "this executor service needs a token: send 'authorization: Bearer <token>' metadata";

/** A start-up problem with a certificate, key or token; the message names the option. */
class CredentialsError extends Error {}

function readFile(file, what) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new CredentialsError(`${what}: cannot read ${file}: ${err.code ?? err.message}`);
  }
}

function checked(what, fn) {
  try {
    fn();
  } catch (err) {
    throw new CredentialsError(`${what}: ${String(err.message).split('\n')[0].slice(0, 200)}`);
  }
}

/**
 * The service's security from `values` (option name -> file path, as parsed
 * from the command line), falling back to the environment; files read and
 * checked. Throws CredentialsError naming the option that is unusable.
 */
function securityFrom(values = {}, env = process.env) {
  const files = {};
  for (const [option, variable] of Object.entries(OPTIONS)) {
    const file = values[option] || env[variable];
    if (file) files[option] = { file, what: values[option] ? `--${option}` : variable };
  }
  const cert = files['tls-cert'];
  const key = files['tls-key'];
  if (!cert !== !key) {
    throw new CredentialsError('a TLS certificate and its private key go together: give both or neither');
  }
  const security = {};
  if (cert) {
    security.tlsCert = readFile(cert.file, cert.what);
    security.tlsKey = readFile(key.file, key.what);
    checked(`${cert.what} ${cert.file} / ${key.what} ${key.file}`, () =>
      tls.createSecureContext({ cert: security.tlsCert, key: security.tlsKey }),
    );
  }
  const ca = files['tls-client-ca'];
  if (ca) {
    security.clientCa = readFile(ca.file, ca.what);
    checked(`${ca.what} ${ca.file}`, () => {
      if (!security.clientCa.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate');
      tls.createSecureContext({ ca: security.clientCa });
    });
  }
  const tokenFile = files['token-file'];
  if (tokenFile) {
    const token = readFile(tokenFile.file, tokenFile.what).toString('latin1').trim();
    if (!token) throw new CredentialsError(`${tokenFile.what}: ${tokenFile.file} is empty`);
    if (!TOKEN.test(token)) {
      throw new CredentialsError(
        `${tokenFile.what}: ${tokenFile.file}: a token is one line of printable ASCII characters, without spaces`,
      );
    }
    security.token = token;
  }
  if (!cert && (security.clientCa || security.token)) {
    const needs = security.clientCa ? 'requiring client certificates' : 'requiring a token';
    throw new CredentialsError(`${needs} needs TLS: give the service's certificate and key too`);
  }
  return security;
}

/** The credentials to bind with: plaintext without a certificate. */
function serverCredentials({ tlsCert, tlsKey, clientCa } = {}) {
  if (!tlsCert) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    clientCa ?? null,
    [{ cert_chain: tlsCert, private_key: tlsKey }],
    Boolean(clientCa),
  );
}

/** Server interceptors: with a token, one refusing every call that lacks it (any method shape). */
function interceptors({ token } = {}) {
  if (!token) return [];
  const expected = Buffer.from(`Bearer ${token}`);
  const authorized = (metadata) => {
    const given = Buffer.from(String(metadata.get('authorization')[0] ?? ''));
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  };
  return [
    (methodDescriptor, call) => {
      const listener = new grpc.ServerListenerBuilder()
        .withOnReceiveMetadata((metadata, next) => {
          if (authorized(metadata)) next(metadata);
          else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: REFUSED });
        })
        .build();
      const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
      return new grpc.ServerInterceptingCall(call, responder);
    },
  ];
}

/** How it serves, for the start-up line, worded as the Python SDK's. */
function summary({ tlsCert, clientCa, token } = {}) {
  if (!tlsCert) return 'plaintext';
  const required = [clientCa && 'client certificate', token && 'token'].filter(Boolean);
  return required.length ? `TLS, ${required.join(' and ')} required` : 'TLS';
}

/** A warning when a service beyond loopback lets any caller in (as the Python SDK's). */
function exposureWarning(host, { tlsCert, clientCa, token } = {}) {
  if (['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host) || clientCa || token) return null;
  const how = tlsCert ? 'without client authentication' : 'in plaintext';
  return (
    `warning: serving on ${host} ${how}: anyone who can reach it can read and change the ` +
    'state of runs; require the runner\'s client certificate (STEPLINE_EXECUTOR_CLIENT_CA) or ' +
    'token (STEPLINE_EXECUTOR_TOKEN_FILE) over TLS'
  );
}

module.exports = {
  CredentialsError,
  OPTIONS,
  exposureWarning,
  interceptors,
  securityFrom,
  serverCredentials,
  summary,
};
