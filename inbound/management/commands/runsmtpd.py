"""manage.py runsmtpd [--host H] [--port P]: the MX server."""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from inbound.smtpd import protocol_factory, serve


class Command(BaseCommand):
    help = "Runs the MX: accepts mail for hosted addresses over SMTP and queues it for processing."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None, help="Default: SMTPD_HOST (127.0.0.1).")
        parser.add_argument("--port", type=int, default=None, help="Default: SMTPD_PORT (2525).")

    def handle(self, *args, host, port, **options):
        asyncio.run(self._run(host or settings.SMTPD_HOST, port or settings.SMTPD_PORT))

    async def _run(self, host: str, port: int):
        factory = protocol_factory()
        server = await serve(host, port, factory)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        self.stdout.write(f"MX listening on {host}:{port} as {settings.MAIL_HOSTNAME}", ending="\n")
        self.stdout.flush()
        await stop.wait()
        server.close()
        await server.wait_closed()
        await factory.handler.committer.dispatch_now()  # what the last 50 ms stored
