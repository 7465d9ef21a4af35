import threading

from core.heartbeat import Heartbeat


def test_the_heartbeat_beats_until_stopped_and_survives_a_failing_beat(caplog):
    beats, enough = [], threading.Event()

    def beat():
        beats.append(threading.current_thread().name)
        if len(beats) == 1:
            raise RuntimeError("the database is away")
        if len(beats) >= 3:
            enough.set()

    with Heartbeat(beat, interval=0, name="test-beat") as heartbeat:  # beats again at once: no sleeping
        assert enough.wait(30)
    count = len(beats)

    assert heartbeat.stopped.is_set()
    assert count >= 3  # the failing first beat did not end the heartbeat
    assert set(beats) == {"test-beat"}  # beats run on the heartbeat's own thread
    assert "a beat failed" in caplog.text
    assert len(beats) == count  # no beat after the block ends


def test_the_heartbeat_does_not_beat_before_its_first_interval():
    beats = []

    with Heartbeat(lambda: beats.append(1), interval=3600, name="test-idle"):
        pass

    assert beats == []
