"""The spam filter's shortcuts (no MIME parse without "base64", no digit count in a word of letters) change nothing."""

from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

import pytest

from inbound.filters import bayes, spam


def parsed_every_time(raw: bytes) -> bool:
    """``_base64_text_parts`` as it was: the whole structure parsed for every message."""
    try:
        message = message_from_bytes(raw[: spam.MAX_STRUCTURE_BYTES], policy=email_policy.compat32)
        for count, part in enumerate(message.walk()):
            if count >= spam.MAX_PARTS:
                break
            if part.get_content_maintype() != "text" or part.get_content_disposition() == "attachment":
                continue
            if str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
                return True
    except Exception:
        return False
    return False


def mime(text_cte: str | None = None, *, attachment: bool = False, body: str = "Hello there.") -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@a.example"
    msg["Subject"] = "Hi"
    msg.set_content(body, cte=text_cte) if text_cte else msg.set_content(body)
    if attachment:
        msg.add_attachment(b"\x00\x01" * 100, maintype="application", subtype="octet-stream", filename="x.bin")
    return msg.as_bytes()


SAMPLES = [
    mime(),
    mime("base64"),
    mime("quoted-printable"),
    mime(attachment=True),  # a base64 attachment, a 7bit text part
    mime("base64", attachment=True),
    mime(body="We talked about base64 yesterday."),
    b"From: a@a.example\r\nContent-Transfer-Encoding:  BASE64 \r\n\r\naGVsbG8=\r\n",
    b"From: a@a.example\r\nContent-Transfer-Encoding: Base64\r\nContent-Type: text/html\r\n\r\naGVsbG8=\r\n",
    b"From: a@a.example\r\nContent-Transfer-Encoding: base\r\n 64\r\n\r\naGVsbG8=\r\n",
    b"From: a@a.example\r\nContent-Transfer-Encoding: =?us-ascii?q?base64?=\r\n\r\naGVsbG8=\r\n",
    b"From: a@a.example\r\nContent-Transfer-Encoding: b\xe4se64\r\n\r\naGVsbG8=\r\n",
    b"From: a@a.example\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
    b"not a message at all",
    b"",
]


@pytest.mark.parametrize("raw", SAMPLES)
def test_base64_text_parts_answers_as_parsing_every_message_did(raw):
    assert spam._base64_text_parts(raw) == parsed_every_time(raw)


def test_base64_text_parts_still_finds_a_base64_text_part():
    assert spam._base64_text_parts(mime("base64")) is True
    assert spam._base64_text_parts(mime(attachment=True)) is False


def counted_every_time(text: str, limit: int) -> list[str]:
    out = []
    for count, match in enumerate(bayes._WORD.finditer(text)):
        if count >= limit:
            break
        word = match.group().lower().strip(".-'’")
        if len(word) < 3:
            continue
        if len(word) > 40:
            out.append(f"skip:{word[0]}{len(word) // 10 * 10}")
        elif sum(1 for _ in bayes._DIGITS.finditer(word)) > 4:
            out.append(f"number:{len(word)}")
        else:
            out.append(word)
    return out


def test_words_are_the_tokens_they_were():
    text = (
        "Order 12345 now: ref A1B2C3D4E5, call 555-0100-99, price $1299.99, ZIP 90210 "
        "١٢٣٤٥abc ٣ 12ab34cd5 abcde fghij klmnopqrstuvwxyz café naïve 𝟏𝟐𝟑𝟒𝟓x Ⅻ ½¾¼⅓⅔ " + "x" * 45
    )
    assert list(bayes._words(text, limit=1000)) == counted_every_time(text, 1000)
    assert {"number:8", "number:6"} <= set(bayes._words(text, limit=1000))  # other scripts' digits count too


@pytest.mark.django_db
def test_a_message_is_tokenised_only_when_there_is_training_to_weigh_it(alice, monkeypatch):
    from tests.inbound.test_spam import auth_results, ham_sample, score, spam_sample, train

    spam_filter = spam.BuiltinSpamFilter(BAYES_MIN_MESSAGES=3)
    calls = []
    real = bayes.tokenize
    monkeypatch.setattr(bayes, "tokenize", lambda parsed: calls.append(parsed) or real(parsed))

    untrained = score(spam_filter, spam_sample(10), auth_results(), user=alice)
    assert (untrained.bayes, untrained.error, calls) == (None, "", [])

    train(alice, [spam_sample(i) for i in range(4)], is_spam=True)
    train(alice, [ham_sample(i) for i in range(4)], is_spam=False)
    calls.clear()
    trained = score(spam_filter, spam_sample(10), auth_results(), user=alice)
    assert trained.bayes > 0.95 and len(calls) == 1
