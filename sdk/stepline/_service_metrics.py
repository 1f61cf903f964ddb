"""An executor service's metrics endpoint, as safe as its gRPC port: over
its TLS (its certificate, its client CA), to a scraper sending its token."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from stepline.service_security import ServiceSecurity
from stepline.telemetry import MetricsAllow, MetricsRefusal, MetricsTls, serve_metrics


def serve_service_metrics(
    registry: CollectorRegistry, host: str, port: int, security: ServiceSecurity
) -> WSGIServer:
    """Serve `registry` on host:port (0 picks one) as `security` says, until
    `shutdown()`."""
    tls, allow = _metrics_tls(security), _metrics_allow(security)
    server, _ = serve_metrics(registry, host, port, tls, allow)
    return server


def _metrics_tls(security: ServiceSecurity) -> MetricsTls | None:
    """The metrics endpoint's TLS: the service's certificate, and its client
    CA (then a scraper must present a certificate it signed)."""
    if security.tls_cert is None or security.tls_key is None:
        return None
    return MetricsTls(security.tls_cert, security.tls_key, security.client_ca)


def _metrics_allow(security: ServiceSecurity) -> MetricsAllow:
    """Who may read the metrics: with a token, who sends it as gRPC callers
    do, in the HTTP header `Authorization: Bearer <token>`."""

    def allow(authorization: str | None, subject: str | None) -> MetricsRefusal | None:
        return None if security.accepts(authorization) else MetricsRefusal(401, _METRICS_REFUSED)

    return allow


_METRICS_REFUSED = (
    "this executor service's metrics need its token: send the HTTP header "
    "'Authorization: Bearer <token>'"
)
