"""Spam filters: the built-in rules and Bayes classifier, and the rspamd adapter against a fake (and a real) rspamd."""

import base64
import json
import os
import re
from dataclasses import asdict
from email.message import EmailMessage

import pytest

from inbound.filters import reset_filters
from inbound.filters.bayes import token_key
from inbound.filters.spam import BuiltinSpamFilter, RspamdFilter, SpamVerdict, get_spam_filter, train_spam
from inbound.models import SpamToken, SpamTrainingCount
from mailboxes.blobstore import mailstore
from mailboxes.parsing import parse_message
from mailboxes.services.store import store_message
from tests.support.fake_rspamd import FakeRspamd
from tests.support.smtp_server import free_port

REASON = re.compile(r"^[A-Z0-9_]+ [+-]\d+\.\d( \(.*\))?$")

# --- mail and authentication results ---------------------------------------------------------


def auth_results(*, spf="pass", dkim="pass", dmarc="pass", policy="none", domain="partner.example") -> dict:
    """``AuthenticationResults.as_dict()`` as the inbound pipeline passes it."""
    return {
        "spf": {"result": spf, "domain": domain, "scope": "mailfrom", "explanation": ""},
        "helo_spf": {"result": "none", "domain": f"mx.{domain}", "scope": "helo", "explanation": ""},
        "dkim": [{"result": dkim, "domain": domain, "selector": "s1", "explanation": ""}] if dkim else [],
        "dmarc": {"result": dmarc, "domain": domain, "policy": policy, "disposition": "none", "explanation": ""},
    }


def reply_mail(*, body: str = "", subject: str = "Re: Thursday's meeting", sender="Paul <paul@partner.example>"):
    body = body or (
        "Hi Alice,\n\nThursday at 10 works for me. I'll bring the quarterly figures and the draft agenda.\n\n"
        "Best,\nPaul\n\n> Could we meet on Thursday to go through the budget?\n"
    )
    return (
        f"From: {sender}\r\nTo: Alice <alice@example.test>\r\nSubject: {subject}\r\n"
        "Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <reply-1@partner.example>\r\n"
        "In-Reply-To: <meeting@example.test>\r\nReferences: <meeting@example.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()


def spammy_mail() -> bytes:
    html = (
        "<html><body><p>CONGRATULATIONS!!! You are a winner! Act now, this is a limited time offer!!!</p>"
        '<a href="http://192.0.2.7/claim">https://www.paypal.com/claim</a>'
        '<a href="http://bit.ly/xyz">Claim your prize</a> <a href="http://192.0.2.7/x">click here</a>'
        '<div style="font-size:0">invisible words for the filters</div></body></html>'
    )
    return (
        "From: PayPal Security <security@prizes.example>\r\nTo: alice@example.test\r\n"
        "Reply-To: claims@another.example\r\nSubject: YOU HAVE WON A FREE IPHONE!!!\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(html.encode()).decode().replace("\n", "\r\n")
    ).encode()


def names(verdict: SpamVerdict) -> list[str]:
    return [reason.split(" ", 1)[0] for reason in verdict.reasons]


def score(spam_filter, raw: bytes, auth: dict | None = None, user=None) -> SpamVerdict:
    return spam_filter.score(raw=raw, parsed=parse_message(raw), auth=auth if auth is not None else {}, user=user)


# --- the contract every filter keeps -----------------------------------------------------------


@pytest.mark.django_db
class SpamFilterContract:
    """Runs against every filter: subclasses provide the ``spam_filter`` fixture."""

    def test_obvious_spam_is_spam(self, spam_filter):
        verdict = score(spam_filter, spammy_mail(), auth_results(spf="fail", dkim="", dmarc="fail", policy="reject"))
        assert verdict.is_spam
        assert verdict.filter == spam_filter.name
        assert not verdict.error

    def test_normal_reply_is_not_spam(self, spam_filter):
        verdict = score(spam_filter, reply_mail(), auth_results())
        assert not verdict.is_spam
        assert not verdict.error

    def test_verdict_is_json_safe_and_reasons_are_readable(self, spam_filter):
        verdict = score(spam_filter, spammy_mail(), auth_results(spf="fail"))
        assert json.loads(json.dumps(asdict(verdict)))["is_spam"] == verdict.is_spam
        assert verdict.reasons
        assert all(REASON.match(reason) for reason in verdict.reasons), verdict.reasons

    def test_garbage_and_missing_auth_give_a_verdict(self, spam_filter):
        verdict = score(spam_filter, b"\x00\xff garbage\r\n\r\n--", {})
        assert isinstance(verdict, SpamVerdict)
        assert isinstance(verdict.score, float)


# --- the built-in filter -------------------------------------------------------------------------


class TestBuiltinSpamFilter(SpamFilterContract):
    @pytest.fixture
    def spam_filter(self):
        return BuiltinSpamFilter()

    def test_spammy_message_collects_the_expected_reasons(self, spam_filter):
        verdict = score(spam_filter, spammy_mail(), auth_results(spf="fail", dkim="", dmarc="fail", policy="reject"))
        assert verdict.score > 10
        assert "SPF_FAIL +2.0 (partner.example)" in verdict.reasons
        assert "DMARC_FAIL_REJECT +3.0 (p=reject)" in verdict.reasons
        assert set(names(verdict)) >= {
            "MISSING_DATE",
            "MISSING_MESSAGE_ID",
            "FROM_REPLY_TO_MISMATCH",
            "SUBJECT_ALL_CAPS",
            "SUBJECT_EXCLAMATIONS",
            "SPAM_PHRASES",
            "URL_IP_ADDRESS",
            "URL_SHORTENER",
            "LINK_TEXT_MISMATCH",
            "INVISIBLE_TEXT",
            "BASE64_TEXT",
        }

    def test_reply_from_dkim_passing_correspondent_scores_below_zero(self, spam_filter):
        verdict = score(spam_filter, reply_mail(), auth_results())
        assert verdict.reasons == ["DKIM_PASS_ALIGNED -0.5 (partner.example)", "DMARC_PASS -0.5 (partner.example)"]
        assert verdict.score == -1.0
        assert verdict.bayes is None

    def test_dkim_signature_of_another_domain_is_not_aligned(self, spam_filter):
        auth = auth_results()
        auth["dkim"][0]["domain"] = "esp.example"
        assert "DKIM_PASS_ALIGNED" not in names(score(spam_filter, reply_mail(), auth))

    def test_failed_dkim_counts_only_without_a_passing_signature(self, spam_filter):
        auth = auth_results(dkim="fail", dmarc="none")
        assert "DKIM_FAIL" in names(score(spam_filter, reply_mail(), auth))
        auth["dkim"].append({"result": "pass", "domain": "partner.example", "selector": "s2"})
        assert "DKIM_FAIL" not in names(score(spam_filter, reply_mail(), auth))

    @pytest.mark.parametrize(
        ("spf", "expected"),
        [("fail", "SPF_FAIL +2.0"), ("softfail", "SPF_SOFTFAIL +1.0"), ("none", "SPF_NONE +0.2")],
    )
    def test_spf_results_score(self, spam_filter, spf, expected):
        verdict = score(spam_filter, reply_mail(), auth_results(spf=spf))
        assert f"{expected} (partner.example)" in verdict.reasons

    @pytest.mark.parametrize(
        ("policy", "expected"),
        [
            ("reject", "DMARC_FAIL_REJECT +3.0"),
            ("quarantine", "DMARC_FAIL_QUARANTINE +2.5"),
            ("none", "DMARC_FAIL +1.0"),
        ],
    )
    def test_dmarc_failure_scores_by_policy(self, spam_filter, policy, expected):
        verdict = score(spam_filter, reply_mail(), auth_results(dmarc="fail", policy=policy))
        assert f"{expected} (p={policy})" in verdict.reasons

    def test_link_text_showing_another_domain_than_its_target_is_flagged(self, spam_filter):
        message = EmailMessage()
        message["From"] = "bank@bank.example"
        message["To"] = "alice@example.test"
        message["Subject"] = "Your statement"
        message["Date"] = "Tue, 03 Mar 2026 10:00:00 +0000"
        message["Message-ID"] = "<s@bank.example>"
        message.set_content("Your statement is ready.")
        message.add_alternative(
            "<p>Your monthly statement is ready. Sign in to read it, as every month, from our website.</p>"
            '<p><a href="https://login.bank-secure.example/x">https://www.bank.example/login</a></p>'
            '<p><a href="https://www.bank.example/help">www.bank.example/help</a></p>'
            + "<p>Thank you for banking with us. Our branches are open on weekdays.</p>"
            * 3,
            subtype="html",
        )
        verdict = score(spam_filter, message.as_bytes(), auth_results(domain="bank.example"))
        assert "LINK_TEXT_MISMATCH +2.0 (bank.example → login.bank-secure.example)" in verdict.reasons
        assert not verdict.is_spam

    def test_html_that_is_all_links_and_images_is_flagged(self, spam_filter):
        html = "<html><body>" + '<a href="https://shop.example/p{0}"><img src="https://shop.example/{0}.png"></a>' * 5
        raw = reply_mail().split(b"Content-Type")[0] + b"Content-Type: text/html\r\n\r\n" + html.encode()
        assert "HTML_LINK_HEAVY" in names(score(spam_filter, raw, auth_results()))

    def test_zero_width_characters_are_flagged(self, spam_filter):
        raw = reply_mail(body="V\u200bi\u200ba\u200bg\u200br\u200ba\u200b at the best price")
        assert "ZERO_WIDTH_CHARS" in names(score(spam_filter, raw, auth_results()))

    def test_display_name_with_another_address_is_flagged(self, spam_filter):
        raw = reply_mail(sender='"ceo@example.test" <ceo.office@freemail.example>')
        assert "FROM_NAME_HAS_OTHER_ADDRESS" in names(score(spam_filter, raw, auth_results()))

    def test_threshold_comes_from_settings(self, spam_filter, settings):
        settings.INBOUND_SPAM_THRESHOLD = 100.0
        verdict = score(spam_filter, spammy_mail(), auth_results(spf="fail"))
        assert verdict.threshold == 100.0
        assert not verdict.is_spam

    def test_rule_scores_can_be_overridden(self):
        spam_filter = BuiltinSpamFilter(SCORES={"SPF_FAIL": 9.0}, THRESHOLD=8.0)
        verdict = score(spam_filter, reply_mail(), auth_results(spf="fail"))
        assert "SPF_FAIL +9.0 (partner.example)" in verdict.reasons
        assert verdict.is_spam

    def test_rule_bug_is_reported_not_raised(self, spam_filter, monkeypatch):
        def broken(*args):
            raise RuntimeError("bug")

        monkeypatch.setattr("inbound.filters.spam._content_rules", broken)
        verdict = score(spam_filter, spammy_mail(), auth_results())
        assert verdict.error == "rules: RuntimeError: bug"


def test_default_filter_is_builtin(settings):
    reset_filters()
    settings.INBOUND_SPAM_FILTER = {}
    assert isinstance(get_spam_filter(), BuiltinSpamFilter)


def test_configured_rspamd_filter_is_built_once(settings):
    reset_filters()
    settings.INBOUND_SPAM_FILTER = {"BACKEND": "inbound.filters.spam.RspamdFilter", "OPTIONS": {"URL": "http://h:1"}}
    spam_filter = get_spam_filter()
    assert isinstance(spam_filter, RspamdFilter)
    assert get_spam_filter() is spam_filter
    reset_filters()


# --- Bayes -------------------------------------------------------------------------------------------

SPAM_BODIES = [
    "Cheap replica watches and designer handbags, huge discount, order today from our online store.",
    "Replica watches at a discount: luxury designer brands, free shipping on every order from our store.",
    "Discount designer handbags and replica watches, buy today, free shipping, exclusive online store offer.",
    "Luxury replica watches, designer handbags discount, our online store ships free today.",
]
HAM_BODIES = [
    "The quarterly budget review moves to Thursday; please bring the figures for the infrastructure project.",
    "Minutes of the project meeting: budget approved, infrastructure migration planned for the next quarter.",
    "Could you review the infrastructure budget figures before Thursday's project meeting?",
    "Project update: the quarterly review went well, the budget for infrastructure stays as planned.",
]


def plain(body: str, *, subject: str, number: int, sender: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
        f"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <m{number}@{sender.rpartition('@')[2]}>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def spam_sample(number: int) -> bytes:
    return plain(SPAM_BODIES[number % 4], subject="Designer discount", number=number, sender="shop@replicas.example")


def ham_sample(number: int) -> bytes:
    return plain(HAM_BODIES[number % 4], subject="Budget review", number=number, sender="paul@partner.example")


def train(user, samples, *, is_spam: bool) -> None:
    for raw in samples:
        message, _ = store_message(raw=raw)
        train_spam(user=user, message=message, is_spam=is_spam)


@pytest.fixture
def bayes_filter():
    return BuiltinSpamFilter(BAYES_MIN_MESSAGES=3)


def test_bayes_stays_out_until_enough_training(alice, bayes_filter):
    train(alice, [spam_sample(i) for i in range(2)], is_spam=True)
    train(alice, [ham_sample(i) for i in range(5)], is_spam=False)
    verdict = score(bayes_filter, spam_sample(10), auth_results(), user=alice)
    assert verdict.bayes is None
    assert not any(reason.startswith("BAYES") for reason in verdict.reasons)


def test_training_raises_the_score_of_similar_spam_and_lowers_that_of_ham(alice, bayes_filter):
    auth = auth_results(dkim="", dmarc="none", domain="replicas.example")
    spam_before = score(bayes_filter, spam_sample(10), auth, user=alice)
    ham_before = score(bayes_filter, ham_sample(10), auth, user=alice)

    train(alice, [spam_sample(i) for i in range(4)], is_spam=True)
    train(alice, [ham_sample(i) for i in range(4)], is_spam=False)

    spam_after = score(bayes_filter, spam_sample(10), auth, user=alice)
    ham_after = score(bayes_filter, ham_sample(10), auth, user=alice)
    assert spam_after.bayes > 0.95
    assert ham_after.bayes < 0.05
    assert spam_after.score > spam_before.score + 2
    assert ham_after.score < ham_before.score - 1
    assert any(re.match(r"BAYES_999? \+[56]\.\d \(p=", reason) for reason in spam_after.reasons)


def test_training_counts_for_the_user_and_globally(alice, bob):
    train(alice, [spam_sample(i) for i in range(3)], is_spam=True)
    train(alice, [ham_sample(i) for i in range(2)], is_spam=False)
    totals = {row.scope_user_id: (row.spam_messages, row.ham_messages) for row in SpamTrainingCount.objects.all()}
    assert totals == {alice.pk: (3, 2), None: (3, 2)}
    replica = token_key("replica")
    assert SpamToken.objects.get(scope_user=alice, token=replica).spam_count == 3
    assert SpamToken.objects.get(scope_user=None, token=replica).spam_count == 3
    assert not SpamToken.objects.filter(scope_user=bob).exists()


def test_a_user_without_training_profits_from_global_training(alice, bob, bayes_filter):
    train(alice, [spam_sample(i) for i in range(3)], is_spam=True)
    train(alice, [ham_sample(i) for i in range(3)], is_spam=False)
    verdict = score(bayes_filter, spam_sample(10), auth_results(), user=bob)
    assert verdict.bayes > 0.9
    assert "global" in next(reason for reason in verdict.reasons if reason.startswith("BAYES"))


def test_a_users_own_training_outweighs_the_global_one(alice, bob, bayes_filter):
    """Bob wants the designer newsletter that Alice calls spam."""
    train(alice, [spam_sample(i) for i in range(4)], is_spam=True)
    train(alice, [ham_sample(i) for i in range(4)], is_spam=False)
    train(bob, [spam_sample(i + 20) for i in range(4)], is_spam=False)
    train(bob, [ham_sample(i + 20) for i in range(4)], is_spam=True)
    for_alice = score(bayes_filter, spam_sample(10), auth_results(), user=alice)
    for_bob = score(bayes_filter, spam_sample(10), auth_results(), user=bob)
    assert for_alice.bayes > 0.9
    assert for_bob.bayes < 0.5
    assert for_bob.score < for_alice.score


def test_training_the_same_message_twice_counts_once(alice):
    message, _ = store_message(raw=spam_sample(1))
    train_spam(user=alice, message=message, is_spam=True)
    train_spam(user=alice, message=message, is_spam=True)
    assert SpamTrainingCount.objects.get(scope_user=alice).spam_messages == 1
    assert SpamToken.objects.get(scope_user=None, token=token_key("replica")).spam_count == 1


def test_retraining_a_message_the_other_way_moves_its_counts(alice):
    message, _ = store_message(raw=spam_sample(1))
    train_spam(user=alice, message=message, is_spam=True)
    train_spam(user=alice, message=message, is_spam=False)
    counts = SpamTrainingCount.objects.get(scope_user=alice)
    assert (counts.spam_messages, counts.ham_messages) == (0, 1)
    token = SpamToken.objects.get(scope_user=alice, token=token_key("replica"))
    assert (token.spam_count, token.ham_count) == (0, 1)
    global_counts = SpamTrainingCount.objects.get(scope_user=None)
    assert (global_counts.spam_messages, global_counts.ham_messages) == (0, 1)


def test_training_failure_is_logged_not_raised(alice, caplog):
    message, _ = store_message(raw=spam_sample(1))
    mailstore().delete(message.blob.storage_key)
    train_spam(user=alice, message=message, is_spam=True)
    assert "spam training failed" in caplog.text
    assert not SpamTrainingCount.objects.exists()


def test_tokens_are_stored_hashed(alice):
    train(alice, [spam_sample(1)], is_spam=True)
    stored = set(SpamToken.objects.values_list("token", flat=True))
    assert "replica" not in stored
    assert all(re.fullmatch(r"[0-9a-f]{24}|msg:[0-9a-f]{60}", token) for token in stored)


# --- rspamd ------------------------------------------------------------------------------------------


@pytest.fixture
def fake_rspamd():
    server = FakeRspamd().start()
    yield server
    server.stop()


def pharma_mail() -> bytes:
    return (
        b"From: shop@pharma.example\r\nTo: alice@example.test\r\nSubject: Best prices\r\n"
        b"Return-Path: <bounce@pharma.example>\r\n\r\nCheap viagra here: http://192.0.2.9/buy\r\n"
    )


class TestRspamdFilterAgainstFakeRspamd(SpamFilterContract):
    @pytest.fixture
    def spam_filter(self, fake_rspamd):
        return RspamdFilter(URL=fake_rspamd.url, TIMEOUT=5)

    def test_scored_symbols_become_reasons_and_action_decides(self, spam_filter):
        verdict = score(spam_filter, pharma_mail(), auth_results())
        assert verdict.is_spam
        assert verdict.action == "add header"
        assert verdict.score == 11.9
        assert verdict.threshold == 5.0  # INBOUND_SPAM_THRESHOLD
        assert verdict.reasons == [
            "FAKE_PHARMA +7.5",
            "MISSING_MID +2.5 (no Message-ID)",
            "HTTP_TO_IP +2.0",
            "MIME_GOOD -0.1",
        ]

    def test_scored_symbols_become_signals_named_as_rspamd_names_them(self, spam_filter):
        verdict = score(spam_filter, pharma_mail(), auth_results())
        assert verdict.signals[1] == {
            "name": "MISSING_MID",
            "points": 2.5,
            "detail": "no Message-ID",
            "description": "Spam rule MISSING_MID (no Message-ID)",
        }
        assert [signal["name"] for signal in verdict.signals] == [r.split(" ")[0] for r in verdict.reasons]

    def test_envelope_is_sent_as_headers(self, spam_filter, fake_rspamd, alice):
        envelope = {
            "client_ip": "192.0.2.1",
            "client_hostname": "mx.pharma.example",
            "helo": "mx.pharma.example",
            "mail_from": "bounce@pharma.example",
            "rcpt_tos": ["alice@example.test", "bob@example.test"],
        }
        raw = pharma_mail()
        spam_filter.score(raw=raw, parsed=parse_message(raw), auth=auth_results(), user=alice, envelope=envelope)
        request = fake_rspamd.state.requests[-1]
        assert request["path"] == "/checkv2"
        assert request["body"] == raw
        headers = request["headers"]
        assert headers["ip"] == ["192.0.2.1"]
        assert headers["hostname"] == ["mx.pharma.example"]
        assert headers["helo"] == ["mx.pharma.example"]
        assert headers["from"] == ["bounce@pharma.example"]
        assert headers["rcpt"] == ["alice@example.test", "bob@example.test"]
        assert headers["deliver-to"] == ["alice@example.test"]

    def test_without_envelope_headers_come_from_the_message_and_user(self, spam_filter, fake_rspamd, alice):
        score(spam_filter, pharma_mail(), auth_results(domain="pharma.example"), user=alice)
        headers = fake_rspamd.state.requests[-1]["headers"]
        assert headers["from"] == ["bounce@pharma.example"]
        assert headers["helo"] == ["mx.pharma.example"]
        assert headers["rcpt"] == ["alice@example.test"]
        assert "ip" not in headers

    def test_rspamd_action_makes_spam_below_the_threshold(self, fake_rspamd):
        verdict = score(RspamdFilter(URL=fake_rspamd.url, THRESHOLD=20), pharma_mail(), auth_results())
        assert verdict.is_spam
        assert verdict.threshold == 20.0

    def test_only_the_threshold_decides_without_use_action(self, fake_rspamd):
        spam_filter = RspamdFilter(URL=fake_rspamd.url, THRESHOLD=20, USE_ACTION=False)
        assert not score(spam_filter, pharma_mail(), auth_results()).is_spam
        spam_filter = RspamdFilter(URL=fake_rspamd.url, THRESHOLD=10, USE_ACTION=False)
        assert score(spam_filter, pharma_mail(), auth_results()).is_spam

    def test_http_error_is_an_error_verdict(self, spam_filter, fake_rspamd):
        fake_rspamd.state.fail_with = 500
        verdict = score(spam_filter, pharma_mail(), auth_results())
        assert not verdict.is_spam
        assert verdict.error == "rspamd answered 500: fake failure"

    def test_ping(self, spam_filter):
        assert spam_filter.ping()


def test_rspamd_connection_refused_is_an_error_verdict():
    verdict = score(RspamdFilter(URL=f"http://127.0.0.1:{free_port()}", TIMEOUT=2), pharma_mail(), auth_results())
    assert not verdict.is_spam
    assert verdict.error.startswith("rspamd at http://127.0.0.1:")


def test_rspamd_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        RspamdFilter(URL="tcp://rspamd:11333")


@pytest.fixture(scope="session")
def real_rspamd():
    """A running rspamd (``RSPAMD_TEST_URL``, else the default local worker), if there is one."""
    spam_filter = RspamdFilter(URL=os.environ.get("RSPAMD_TEST_URL", "http://127.0.0.1:11333"), TIMEOUT=10)
    if not spam_filter.ping():
        pytest.skip("no rspamd is running")
    return spam_filter


class TestRspamdFilterAgainstRealRspamd:
    def test_real_rspamd_scores_and_explains(self, real_rspamd):
        verdict = score(real_rspamd, spammy_mail(), auth_results(spf="fail"))
        assert not verdict.error
        assert verdict.reasons
        assert all(REASON.match(reason) for reason in verdict.reasons), verdict.reasons
        assert verdict.action
