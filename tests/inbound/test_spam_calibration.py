"""The combined score keeps the trained classifier's evidence, and every verdict says which signals decided."""

import pytest

from inbound.filters.explanations import signals_of
from inbound.filters.spam import DEFAULT_THRESHOLD, BuiltinSpamFilter, bayes_points
from tests.inbound.test_spam import auth_results, ham_sample, plain, score, spam_sample, train

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(alice):
    train(alice, [spam_sample(i) for i in range(4)], is_spam=True)
    train(alice, [ham_sample(i) for i in range(4)], is_spam=False)
    return alice


@pytest.fixture
def spam_filter():
    return BuiltinSpamFilter(BAYES_MIN_MESSAGES=3)


def test_spam_the_trained_classifier_is_sure_of_crosses_the_default_threshold_with_no_other_signal(
    trained, spam_filter, settings
):
    assert settings.INBOUND_SPAM_THRESHOLD == DEFAULT_THRESHOLD

    verdict = score(spam_filter, spam_sample(10), {}, user=trained)

    assert verdict.bayes >= 0.99
    assert [signal["name"] for signal in verdict.signals] in (["BAYES_99"], ["BAYES_999"])  # nothing else
    assert verdict.score >= DEFAULT_THRESHOLD and verdict.is_spam


def test_the_classifiers_certainty_crosses_a_raised_threshold_too(trained):
    verdict = score(BuiltinSpamFilter(BAYES_MIN_MESSAGES=3, THRESHOLD=8), spam_sample(10), {}, user=trained)

    assert verdict.bayes >= 0.99 and verdict.is_spam and verdict.threshold == 8


def test_ham_the_trained_classifier_is_sure_of_stays_out_of_spam_despite_weak_rule_hits(trained, spam_filter):
    body = "Minutes of the project meeting: the quarterly budget for the infrastructure review is approved."
    raw = plain(body, subject="Budget review!!!", number=11, sender="paul@partner.example")
    raw = raw.replace(b"Message-ID: <m11@partner.example>\r\n", b"Reply-To: paul@home.example\r\n")
    auth = auth_results(spf="softfail", dkim="", dmarc="none")

    verdict = score(spam_filter, raw, auth, user=trained)

    rules = [s["name"] for s in verdict.signals if not s["name"].startswith("BAYES_")]
    assert verdict.bayes <= 0.01
    assert {"SUBJECT_EXCLAMATIONS", "MISSING_MESSAGE_ID", "FROM_REPLY_TO_MISMATCH", "SPF_SOFTFAIL"} <= set(rules)
    assert not verdict.is_spam


def test_bayes_points_by_band_at_the_default_threshold():
    """From p 0.95 the classifier decides alone; below it, it needs rules to agree."""
    assert bayes_points(0.97, DEFAULT_THRESHOLD) == ("BAYES_95", DEFAULT_THRESHOLD)
    assert bayes_points(0.995, DEFAULT_THRESHOLD)[1] >= DEFAULT_THRESHOLD
    assert 0 < bayes_points(0.85, DEFAULT_THRESHOLD)[1] < DEFAULT_THRESHOLD
    assert bayes_points(0.5, DEFAULT_THRESHOLD)[1] == 0
    assert bayes_points(0.005, DEFAULT_THRESHOLD)[1] < 0


def test_an_operator_can_set_a_bayes_bands_points(trained):
    spam_filter = BuiltinSpamFilter(BAYES_MIN_MESSAGES=3, SCORES={"BAYES_99": 2.0, "BAYES_999": 2.0})

    verdict = score(spam_filter, spam_sample(10), {}, user=trained)

    assert verdict.score == 2.0 and not verdict.is_spam


def test_verdict_lists_each_signal_with_its_points_and_plain_words(trained, spam_filter):
    verdict = score(spam_filter, spam_sample(10), auth_results(spf="fail", dkim="", dmarc="none"), user=trained)

    by_name = {signal["name"]: signal for signal in verdict.signals}
    bayes = by_name.get("BAYES_999") or by_name["BAYES_99"]
    assert bayes["description"].startswith("Your filter learned that messages like this are spam (99.")
    assert bayes["description"].endswith(" %)")
    assert by_name["SPF_FAIL"] == {
        "name": "SPF_FAIL",
        "points": 2.0,
        "detail": "partner.example",
        "description": "Sender failed SPF: the server it came from may not send mail for its domain (partner.example)",
    }
    assert round(sum(signal["points"] for signal in verdict.signals), 2) == verdict.score


def test_a_user_without_training_is_told_the_filter_learned_from_everyone(trained, bob, spam_filter):
    verdict = score(spam_filter, ham_sample(10), {}, user=bob)

    (bayes,) = verdict.signals
    assert bayes["description"].startswith("The filter learned from everyone's reports that messages like this are not")
    assert bayes["points"] < 0


def test_signals_of_a_verdict_recorded_before_signals_are_read_from_its_reasons():
    recorded = {"score": 7.5, "reasons": ["SPF_FAIL +2.0 (example.com)", "BAYES_99 +3.5 (p=0.993, 40 clues, user)"]}

    signals = signals_of(recorded)

    assert [(s["name"], s["points"]) for s in signals] == [("BAYES_99", 3.5), ("SPF_FAIL", 2.0)]
    assert signals[0]["description"] == "Your filter learned that messages like this are spam (99.3 %)"
    assert signals[1]["description"].startswith("Sender failed SPF")
