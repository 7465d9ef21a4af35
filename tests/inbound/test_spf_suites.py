"""The official OpenSPF test suites (RFC 7208 and RFC 4408), every test through the product's SPF evaluator.

Each scenario's ``zonedata`` is served by the real DNS server on loopback and the test's MAIL FROM, HELO and
client address go through ``inbound.auth.spf.check`` as the inbound MX calls it. The zone is loaded the way the
suites' own driver (pyspf's ``testspf.py``) reads it:

- an ``SPF`` record (type 99) is also published as TXT unless the name has TXT records of its own;
- ``TXT: NONE`` (or ``SPF: NONE``) publishes nothing of that type;
- ``TIMEOUT`` makes every query for the name fail, except for the types whose records are listed before it
  (the generated TXT copies count as listed after it). The server answers SERVFAIL: the evaluator sees a
  lookup that could not be completed, exactly as for a timeout, without the test waiting for one;
- a TXT record with no strings at all (``SPF: [ ]``, "illegal, but SPF should not crash") is served as one
  empty string: zero strings cannot cross the wire to us (dnspython drops such a reply as malformed, and a
  recursive resolver would not pass it on), so the nearest record that can is served.

A test's ``result`` may be a list of acceptable results (the first is the preferred one). Where the suite gives
an ``explanation``, it is checked too: ``DEFAULT`` means the domain's own explanation was not used (none was
published, or it could not be used), so the evaluator's own words stand.
"""

import re
from pathlib import Path

import pytest
import yaml

from inbound.auth import spf
from inbound.auth.lookups import Lookups, TempError

SUITES = Path(__file__).resolve().parent.parent / "samples" / "spf"
_EVALUATOR_OWN_WORDS = re.compile(r"\S+ of \S+ matched")  # what spf.py says when no published explanation is used


def _load(filename: str) -> list:
    params = []
    with open(SUITES / filename, "rb") as file:
        for scenario in yaml.safe_load_all(file):
            for name, test in scenario["tests"].items():
                params.append(pytest.param(scenario["zonedata"], test, id=name))
    return params


def _zone_records(values: list) -> tuple[list[tuple[str, object]], set[str] | None]:
    """The records of one name in the driver's order, and the types answered despite a TIMEOUT (None: no TIMEOUT)."""
    records, generated, has_txt, answered_before_timeout = [], [], False, None
    for entry in values:
        if entry == "TIMEOUT":
            if answered_before_timeout is None:
                answered_before_timeout = {rtype for rtype, _ in records}
            continue
        ((rtype, value),) = entry.items()
        if rtype in ("TXT", "SPF") and isinstance(value, str):
            value = [value]
        if rtype == "TXT":
            has_txt = True
        elif rtype == "SPF":
            generated.append(("TXT", value))
        if value != ["NONE"]:
            records.append((rtype, value))
    if not has_txt:
        records.extend(generated)  # after any TIMEOUT: a name that times out does so for its TXT copies too
    return records, answered_before_timeout


def _serve(resolver, zonedata: dict) -> None:
    for name, values in zonedata.items():
        records, answered = _zone_records(values)
        for rtype, value in records:
            if rtype in ("TXT", "SPF"):
                value = [string.encode() for string in value] or [b""]  # the suites' \\xNN are UTF-8 on the wire
            elif rtype == "MX":
                value = tuple(value)
            resolver.add_record(name, rtype, value)
        if answered is not None:
            resolver.servfail(name, except_types=tuple(answered))


def _check(dns_server, settings, zonedata: dict, test: dict) -> None:
    settings.MAIL_HOSTNAME = "receiver.example"
    _serve(dns_server.resolver, zonedata)
    result, _ = spf.check(lookups=Lookups(), client_ip=test["host"], helo=test["helo"], mail_from=test["mailfrom"])
    expected = test["result"] if isinstance(test["result"], list) else [test["result"]]
    assert result.result in expected, f"{test.get('description', '')} ({test['spec']}): {result}"
    if "explanation" in test:
        if test["explanation"] == "DEFAULT":
            assert _EVALUATOR_OWN_WORDS.fullmatch(result.explanation), result
        else:
            assert result.explanation == test["explanation"]


@pytest.mark.parametrize(("zonedata", "test"), _load("rfc7208-tests.yml"))
def test_rfc7208_suite(dns_server, settings, zonedata, test):
    _check(dns_server, settings, zonedata, test)


@pytest.mark.parametrize(("zonedata", "test"), _load("rfc4408-tests.yml"))
def test_rfc4408_suite(dns_server, settings, zonedata, test):
    _check(dns_server, settings, zonedata, test)


def test_the_loopback_server_serves_what_the_suites_need(dns_server):
    """Several strings in one TXT, type SPF (99), CNAME followed within the zone, SERVFAIL for some types only."""
    zone = dns_server.resolver
    zone.add_record("multi.example", "TXT", [b"v=spf1 ip4:", b"192.0.2.5 -all"])
    zone.add_record("multi.example", "SPF", b"v=spf1 -all")
    zone.add_record("alias.example", "CNAME", "target.example")
    zone.add_record("target.example", "A", "192.0.2.7")
    zone.add_record("flaky.example", "A", "192.0.2.8")
    zone.servfail("flaky.example", except_types=("A",))
    lookups = Lookups()
    assert lookups.txt("multi.example") == [b"v=spf1 ip4:192.0.2.5 -all"]
    assert [r.to_text() for r in lookups.query("multi.example", "SPF")] == ['"v=spf1 -all"']
    assert [r.address for r in lookups.query("alias.example", "A")] == ["192.0.2.7"]
    assert [r.address for r in lookups.query("flaky.example", "A")] == ["192.0.2.8"]
    with pytest.raises(TempError):
        lookups.query("flaky.example", "TXT")


def test_a_domain_spec_must_end_in_a_top_label_or_a_macro():
    for spec in (
        "a:foo-bar",
        "a:example.com:8080",
        "a:192.0.2.1",
        "mx:abc.123",
        "exists:x.example/24",
        "redirect=-all",
    ):
        with pytest.raises(spf.PermError):
            spf.parse_record(f"v=spf1 {spec}")
    for spec in ("a:mail.example.com.", "exists:%{i}._spf.%{d}", "exists:%{i}.%{d}.", "include:_spf.x-1.example"):
        assert spf.parse_record(f"v=spf1 {spec} -all")


def test_terms_are_separated_by_spaces_only():
    assert len(spf.parse_record("v=spf1  a   -all ").directives) == 2
    for text in ("v=spf1 a:ctrl.example\rptr -all", "v=spf1 ip4:192.0.2.5\n include:x.example ~all", "v=spf1 a\t-all"):
        with pytest.raises(spf.PermError):
            spf.parse_record(text)
