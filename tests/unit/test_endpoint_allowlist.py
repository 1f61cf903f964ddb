"""The executor endpoint allow-list: rules, endpoints, and what each allows."""

from __future__ import annotations

import pytest

from stepline_runner.engine.allowlist import AllowList, RuleError, parse_rule

LOOPBACK = AllowList.of()


@pytest.mark.parametrize(
    "endpoint",
    ["127.0.0.1:7000", "127.9.9.9:1", "[::1]:50051", "localhost:7000", "LOCALHOST:8"],
)
def test_loopback_endpoints_pass_the_default_list(endpoint: str) -> None:
    assert LOOPBACK.refusal(endpoint) is None


@pytest.mark.parametrize(
    "endpoint",
    [
        "10.0.0.5:7000",
        "169.254.169.254:80",  # a cloud metadata service
        "0.0.0.0:7000",
        "[::ffff:127.0.0.1]:7000",
        "evil.example.com:7000",
        "localhost.evil.example.com:7000",
        "unix:/run/stepline/x.sock",
    ],
)
def test_everything_else_is_refused_by_default_naming_the_rules(endpoint: str) -> None:
    refusal = LOOPBACK.refusal(endpoint)
    assert refusal is not None
    assert "matches no rule" in refusal and "127.0.0.0/8, ::1, localhost" in refusal


@pytest.mark.parametrize(
    "endpoint",
    ["127.0.0.1", "dns:///127.0.0.1:7000", "unix:relative.sock", "unix:/a/../etc/x", "::1:80"],
)
def test_targets_the_runner_does_not_dial_are_refused_as_such(endpoint: str) -> None:
    refusal = LOOPBACK.refusal(endpoint)
    assert refusal is not None and "is not host:port" in refusal


def test_ports_networks_hosts_and_unix_paths_are_matched_as_listed() -> None:
    rules = AllowList.of(
        ["10.0.0.0/8:7000-7099", "[fd00::1]:443", "executors.internal", "unix:/run/stepline/"]
    )
    allowed = ["10.1.2.3:7000", "10.1.2.3:7099", "[fd00::1]:443", "executors.internal:9"]
    allowed += ["unix:/run/stepline/a.sock", "unix:///run/stepline/b.sock"]
    refused = ["10.1.2.3:7100", "11.0.0.1:7000", "[fd00::1]:444", "127.0.0.1:7000"]
    refused += ["unix:/run/stepline", "unix:/run/other.sock", "unix:/run/stepline/../x"]
    assert [e for e in allowed if rules.refusal(e) is not None] == []
    assert [e for e in refused if rules.refusal(e) is None] == []
    exact = AllowList.of(["unix:/run/one.sock"])
    assert exact.refusal("unix:/run/one.sock") is None
    assert exact.refusal("unix:/run/one.sock2") is not None


@pytest.mark.parametrize(
    "rule",
    ["", "unix:relative", "unix:/a/../b", "10.0.0.0/8:0", "host:99999", "h:9-1", "a b", "[::1"],
)
def test_a_malformed_rule_is_refused_with_its_text(rule: str) -> None:
    with pytest.raises(RuleError) as refused:
        parse_rule(rule)
    assert repr(rule[:80]) in str(refused.value)
