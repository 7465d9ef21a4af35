"""Content-Security-Policy for every page: scripts and styles only from our own origin.

No inline script runs anywhere (all JavaScript is in ``static/``). A view
that needs another policy (the sandboxed message body) sets its own header,
which is left alone. Pages of third-party tools that set styles from their
scripts (the API docs: Swagger UI, Redoc) get inline styles, never inline
scripts: ``CSP_INLINE_STYLE_PATHS`` lists their path prefixes.
"""

from django.conf import settings


def _policy(style_src: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {style_src}",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


DEFAULT_POLICY = _policy("'self'")
INLINE_STYLE_POLICY = _policy("'self' 'unsafe-inline'")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.inline_style_paths = tuple(getattr(settings, "CSP_INLINE_STYLE_PATHS", ()))

    def __call__(self, request):
        response = self.get_response(request)
        inline_styles = self.inline_style_paths and request.path.startswith(self.inline_style_paths)
        response.headers.setdefault("Content-Security-Policy", INLINE_STYLE_POLICY if inline_styles else DEFAULT_POLICY)
        return response
