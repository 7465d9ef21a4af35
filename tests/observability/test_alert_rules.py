"""The alert rules in deploy/prometheus: valid for promtool, each one proven to fire and not to fire."""

import re
import subprocess

import yaml
from prometheus_client.metrics import MetricWrapperBase

from core import metrics
from tests.support.prometheus import DATABASE_GAUGES, DEPLOY_DIR, require

RULES = DEPLOY_DIR / "alerts.yml"
RULE_TESTS = DEPLOY_DIR / "alerts_test.yml"
REQUIRED_ALERTS = {
    "WebmailOutboundQueueGrowing",
    "WebmailDeliverySuccessLow",
    "WebmailComplaintRateHigh",
    "WebmailSearchIndexingLagHigh",
    "WebmailDeadLetters",
    "WebmailMXRefusingEverything",
    "WebmailTargetDown",
    "WebmailCeleryTaskFailureRateHigh",
    "WebmailInboundBacklogStale",
}


def _alerts():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _run(*args, cwd=DEPLOY_DIR):
    # promtool with fixed arguments on the repository's files
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd, check=False)  # noqa: S603


def test_promtool_accepts_the_rules():
    result = _run(require("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass():
    result = _run(require("promtool"), "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path):
    """The unit tests are not vacuous: loosen one threshold and they fail."""
    (tmp_path / "alerts.yml").write_text(RULES.read_text().replace("> 0.001", "> 0.01"))
    (tmp_path / "alerts_test.yml").write_text(RULE_TESTS.read_text())
    result = _run(require("promtool"), "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "WebmailComplaintRateHigh" in result.stdout + result.stderr


def test_every_condition_of_the_issue_has_an_alert_with_severity_and_runbook():
    alerts = _alerts()
    assert {rule["alert"] for rule in alerts} >= REQUIRED_ALERTS
    for rule in alerts:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        for annotation in ("summary", "description", "runbook"):
            assert rule["annotations"][annotation].strip(), (rule["alert"], annotation)


def test_rules_only_use_metrics_that_are_exported():
    exported = set(DATABASE_GAUGES) | {"up"}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            # A counter's samples carry _total; a histogram's _bucket/_sum/_count.
            name = value._name + ("_total" if value._type == "counter" else "")
            exported.add(name)
    for rule in _alerts():
        used = set(re.findall(r"\bwebmail_[a-z_]+|\bup\b", rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_every_alert_is_shown_firing_in_the_unit_tests():
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    silent = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if not case["exp_alerts"]}
    names = {rule["alert"] for rule in _alerts()}
    assert fired == names
    assert silent == names  # and each is also shown not firing (pending, under a floor, or healthy)


def test_the_example_scrape_config_is_valid_with_the_rules_beside_it(tmp_path):
    """deploy/prometheus/prometheus.yml as an operator installs it: next to alerts.yml and the token file."""
    for name in ("prometheus.yml", "alerts.yml"):
        (tmp_path / name).write_text((DEPLOY_DIR / name).read_text())
    (tmp_path / "webmail-metrics-token").write_text("a-token\n")
    result = _run(require("promtool"), "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    job = yaml.safe_load((DEPLOY_DIR / "prometheus.yml").read_text())["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
