"""How long the parser takes on hostile input that is quadratic or worse in naive parsers.

Run: .venv/bin/python bench/hostile_parsing.py — prints seconds per case (the
tests check these inputs parse correctly; timing belongs here, not in tests).
With --calls it also prints the Python function calls each case makes: a
measure that a busy machine does not blur, for comparing two versions.
"""

import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")

import django  # noqa: E402

django.setup()

from mailboxes.parsing import parse_message  # noqa: E402
from mailboxes.text import make_snippet  # noqa: E402

CASES = {
    "200 KB of Content-Type parameters": lambda: parse_message(
        b"Content-Type: text/plain; " + b'a="b;c"; ' * 22000 + b"charset=utf-8\r\n\r\nbody"
    ),
    "10,000 MIME parts": lambda: parse_message(
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        + b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(10000))
        + b"--b--\r\n"
    ),
    "30 KB of unterminated HTML tags": lambda: (
        parse_message(b"Content-Type: text/html\r\n\r\n<p>Hello</p>" + b"<a " * 10000).snippet
    ),
    "100 KB subject of encoded-words": lambda: parse_message(
        b"Subject: " + b"=?utf-8?q?abc?= " * 6000 + b"\r\n\r\nbody"
    ),
    "16 KB display name of split words": lambda: parse_message(
        b"From: " + b"=?utf-8?Q?=E5=BC?= =?utf-8?Q?=A0?= " * 400 + b"<a@example.test>\r\n\r\nbody"
    ),
    "1 MB subject of raw 8-bit words": lambda: parse_message(
        b"Subject: " + "=?iso-8859-1?Q?Fr=F6sche_Fröschen?= ".encode() * 30000 + b"\r\n\r\nbody"
    ),
    "snippet of a 36 MB body": lambda: make_snippet("Hello.\n" + "filler line\n" * 3_000_000),
}


def main() -> None:
    count_calls = "--calls" in sys.argv[1:]
    print(f"{'case':40} {'seconds':>8}" + (f" {'calls':>10}" if count_calls else ""))
    for name, run in CASES.items():
        started = time.perf_counter()
        run()
        line = f"{name:40} {time.perf_counter() - started:8.3f}"
        if count_calls:
            profile = cProfile.Profile()
            profile.runcall(run)
            line += f" {pstats.Stats(profile).total_calls:10}"
        print(line)


if __name__ == "__main__":
    main()
