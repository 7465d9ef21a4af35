"""Who is asking: the one notion of a client's address that every per-client limit uses.

It is the address of the peer that connected (``REMOTE_ADDR``), never a header
the client can write: a limit keyed on ``X-Forwarded-For`` is evaded by sending
a new value with each request. Behind a reverse proxy, let the WSGI/ASGI server
set ``REMOTE_ADDR`` from the proxy's header for trusted proxies only
(gunicorn ``--forwarded-allow-ips``, uvicorn ``--proxy-headers``).
"""


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""
