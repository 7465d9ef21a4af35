#!/usr/bin/env python
"""Runs a Python program under cProfile in every thread, counting CPU time; one merged profile at exit.

    python bench/mx_cprofile.py OUT.pstats manage.py runsmtpd --port 2525

bench/inbound.py --mx-cprofile runs the MX this way: its event loop and the
threads that store messages (``sync_to_async``) are all profiled, with each
thread's CPU clock (``time.thread_time``), so time spent waiting for a core on a
shared machine or for the disk is not counted. Read it with
``python -m pstats OUT.pstats`` (``sort tottime``, ``stats 30``).
"""

import cProfile
import os
import pstats
import runpy
import sys
import threading
import time

profiles: list[cProfile.Profile] = []
lock = threading.Lock()


def _start_in_thread(frame, event, arg):
    # Called once as the new thread's profile hook: replaced by a profiler of its own.
    profile = cProfile.Profile(time.thread_time)
    with lock:
        profiles.append(profile)
    profile.enable()


def main() -> None:
    out, sys.argv = sys.argv[1], sys.argv[2:]
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))  # as if the program were run itself
    threading.setprofile(_start_in_thread)
    main_profile = cProfile.Profile(time.thread_time)
    profiles.append(main_profile)
    main_profile.enable()
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit:
        pass
    finally:
        main_profile.disable()
        threading.setprofile(None)
        with lock:
            stats = pstats.Stats(*profiles)
        stats.dump_stats(out)


if __name__ == "__main__":
    main()
