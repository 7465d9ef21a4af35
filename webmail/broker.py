"""The embedded broker: kombu's file transport, with messages that appear complete.

kombu's writer creates the message file and then writes it; a worker polling
the folder in between takes the empty file, fails to decode it and deletes
it, and the task is lost (bench/inbound.py lost one in its warm-up). Here a
message is written under a name the reader skips and renamed into place, so
it is seen whole or not at all. The reader is kombu's own.
"""

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"  # kombu's name: the order it reads in
        final = os.path.join(self.data_folder_out, name)
        # The reader takes names whose part after the first dot is "<queue>.msg"; this one has none before it.
        temporary = os.path.join(self.data_folder_out, f".{name}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
