from campaigns.workspace import is_marketer


def marketing(request) -> dict:
    """Whether the top bar links to the marketing area."""
    user = getattr(request, "user", None)
    return {"is_marketer": bool(user is not None and is_marketer(user))}
