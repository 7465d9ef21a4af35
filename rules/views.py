"""The settings pages of the mail rules: filters and blocked senders, vacation reply, forwarding."""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import addresses_of
from accounts.settings_sections import settings_context
from mailboxes import selectors as mail_selectors
from mailboxes.views.common import redirect_after_post, safe_next, user_errors
from rules import selectors
from rules.exceptions import InvalidCriteria, InvalidVacationReply, InvalidVerificationLink
from rules.models import AutoForward, Filter
from rules.services import blocking, forwarding, vacation
from rules.services.filters import FilterActions, create_filter, delete_filter, move_filter, update_filter
from webmail.errors import UserError

FILTERS = "rules:filters"


def _actions_from(post) -> FilterActions:
    return FilterActions(
        label_id=post.get("label") or None,
        new_label=post.get("new_label", ""),
        skip_inbox=post.get("skip_inbox") == "on",
        mark_read=post.get("mark_read") == "on",
        star=post.get("star") == "on",
        trash=post.get("trash") == "on",
        never_spam=post.get("never_spam") == "on",
        forward_to_id=post.get("forward_to") or None,
    )


def describe_actions(found: Filter) -> list[str]:
    """What a filter does, in words, for the list of filters."""
    said = []
    if found.label_id:
        said.append(_("Label “%(name)s”") % {"name": found.label.name})
    if found.trash:
        said.append(_("Delete it"))
    elif found.skip_inbox:
        said.append(_("Skip the Inbox"))
    if found.mark_read:
        said.append(_("Mark as read"))
    if found.star:
        said.append(_("Star it"))
    if found.never_spam:
        said.append(_("Never send it to Spam"))
    if found.forward_to_id:
        said.append(_("Forward to %(address)s") % {"address": found.forward_to.address})
    return said


def _filters_page(request, *, values=None, error=None, status=200, editing: Filter | None = None):
    user = request.user
    filters = list(selectors.filters_of(user=user))
    for each in filters:
        each.described = describe_actions(each)
    context = {
        **settings_context(user, "filters"),
        "filters": filters,
        "blocked": selectors.blocked_senders_of(user=user),
        "user_labels": mail_selectors.labels_of(user=user),
        "verified_addresses": selectors.verified_forwarding_addresses_of(user=user),
        "values": values or {"query": request.GET.get("q", "")},
        "error": error,
        "editing": editing,
        "open_form": bool(request.GET.get("q")) or error is not None,
    }
    template = "rules/filter_edit.html" if editing else "rules/filters.html"
    return render(request, template, context, status=status)


def _error_context(exc: UserError) -> dict:
    return {"message": exc.message, "field": exc.field, "position": getattr(exc, "position", None)}


@login_required
@require_GET
def filters(request):
    return _filters_page(request)


@login_required
@require_POST
def filter_create(request):
    try:
        found = create_filter(
            user=request.user, query=request.POST.get("query", ""), actions=_actions_from(request.POST),
            apply_to_existing=request.POST.get("apply_to_existing") == "on",
        )  # fmt: skip
    except UserError as exc:
        return _filters_page(request, values=request.POST, error=_error_context(exc), status=400)
    messages.success(request, _backfill_message(found) or _("Filter created."))
    return redirect_after_post(request, reverse(FILTERS))


def _backfill_message(found: Filter) -> str:
    if found.backfill_status == Filter.Backfill.RUNNING:
        return _("Filter saved. It is being applied to your existing mail.")
    if found.backfill_status == Filter.Backfill.DONE:
        return _("Filter saved and applied to %(count)s existing messages.") % {"count": found.backfill_count}
    return ""


@login_required
@require_http_methods(["GET", "POST"])
@user_errors(fallback=FILTERS)
def filter_edit(request, filter_id: int):
    found = selectors.get_filter_for_user(user=request.user, filter_id=filter_id)
    if request.method == "GET":
        values = {
            "query": found.query, "label": found.label_id or "", "skip_inbox": found.skip_inbox,
            "mark_read": found.mark_read, "star": found.star, "trash": found.trash, "never_spam": found.never_spam,
            "forward_to": found.forward_to_id or "",
        }  # fmt: skip
        return _filters_page(request, values=values, editing=found)
    try:
        found = update_filter(
            user=request.user, filter_id=found.pk, query=request.POST.get("query", ""),
            actions=_actions_from(request.POST), apply_to_existing=request.POST.get("apply_to_existing") == "on",
        )  # fmt: skip
    except InvalidCriteria as exc:
        return _filters_page(request, values=request.POST, error=_error_context(exc), status=400, editing=found)
    except UserError as exc:
        if exc.status == 404:
            raise
        return _filters_page(request, values=request.POST, error=_error_context(exc), status=400, editing=found)
    messages.success(request, _backfill_message(found) or _("Filter saved."))
    return redirect_after_post(request, reverse(FILTERS))


@login_required
@require_POST
@user_errors(fallback=FILTERS)
def filter_delete(request, filter_id: int):
    delete_filter(user=request.user, filter_id=filter_id)
    messages.success(request, _("Filter deleted."))
    return redirect_after_post(request, reverse(FILTERS))


@login_required
@require_POST
@user_errors(fallback=FILTERS)
def filter_move(request, filter_id: int):
    move_filter(user=request.user, filter_id=filter_id, up=request.POST.get("direction") == "up")
    return redirect_after_post(request, reverse(FILTERS) + f"#filter-{filter_id}")


# --- Blocked senders ------------------------------------------------------------------------------


@login_required
@require_POST
@user_errors(fallback=FILTERS)
def block(request):
    blocked = blocking.block_sender(user=request.user, sender=request.POST.get("sender", ""))
    messages.success(request, _("%(sender)s is blocked: their new mail goes to Trash.") % {"sender": blocked})
    return redirect_after_post(request, safe_next(request, reverse(FILTERS) + "#blocked"))


@login_required
@require_POST
@user_errors
def block_sender_of(request, item_id: int):
    """ "Block sender" on a conversation: blocks the From address of one of the user's messages."""
    blocked = blocking.block_sender_of_item(user=request.user, item_id=item_id)
    messages.success(request, _("%(sender)s is blocked: their new mail goes to Trash.") % {"sender": blocked})
    return redirect_after_post(request, safe_next(request, reverse(FILTERS) + "#blocked"))


@login_required
@require_POST
@user_errors(fallback=FILTERS)
def unblock(request, blocked_id: int):
    blocking.unblock_sender(user=request.user, blocked_id=blocked_id)
    messages.success(request, _("Sender unblocked."))
    return redirect_after_post(request, reverse(FILTERS) + "#blocked")


# --- Vacation reply -------------------------------------------------------------------------------


def _date(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidVacationReply(_("Write the day as YYYY-MM-DD."), field=field) from exc


@login_required
@require_http_methods(["GET", "POST"])
def vacation_reply(request):
    user = request.user
    reply, error, status = selectors.vacation_reply_of(user=user), None, 200
    if request.method == "POST":
        post = request.POST
        try:
            reply = vacation.save_vacation_reply(
                user=user, enabled=post.get("enabled") == "on", subject=post.get("subject", ""),
                body=post.get("body", ""), starts_on=_date(post.get("starts_on", ""), "starts_on"),
                ends_on=_date(post.get("ends_on", ""), "ends_on"), contacts_only=post.get("contacts_only") == "on",
                interval_days=post.get("interval_days") or vacation.DEFAULT_INTERVAL_DAYS,
            )  # fmt: skip
        except UserError as exc:
            error, status = _error_context(exc), 400
        else:
            messages.success(request, _("Vacation reply saved."))
            return redirect_after_post(request, reverse("rules:vacation"))
    context = {
        **settings_context(user, "vacation"),
        "reply": reply,
        "values": request.POST if error else None,
        "error": error,
        "active_now": reply.pk is not None and vacation.is_active(reply, now=timezone.now()),
    }
    return render(request, "rules/vacation.html", context, status=status)


# --- Forwarding -----------------------------------------------------------------------------------


def _forwarding_page(request, *, error=None, address="", status=200):
    user = request.user
    context = {
        **settings_context(user, "forwarding"),
        "addresses": selectors.forwarding_addresses_of(user=user),
        "verified_addresses": selectors.verified_forwarding_addresses_of(user=user),
        "auto_forward": selectors.auto_forward_of(user=user),
        "keep_choices": [
            (AutoForward.Keep.INBOX, _("Keep a copy in the Inbox")),
            (AutoForward.Keep.ARCHIVE, _("Archive the copy")),
            (AutoForward.Keep.TRASH, _("Move the copy to Trash")),
        ],
        "error": error,
        "address": address,
    }
    return render(request, "rules/forwarding.html", context, status=status)


@login_required
@require_GET
def forwarding_settings(request):
    return _forwarding_page(request)


@login_required
@require_POST
def forwarding_add(request):
    address = request.POST.get("address", "")
    try:
        record = forwarding.add_forwarding_address(user=request.user, address=address)
    except UserError as exc:
        return _forwarding_page(request, error=_error_context(exc), address=address[:320], status=400)
    messages.success(
        request, _("A verification mail went to %(address)s: follow its link to allow forwarding.")
        % {"address": record.address},
    )  # fmt: skip
    return redirect_after_post(request, reverse("rules:forwarding"))


@login_required
@require_POST
@user_errors(fallback="rules:forwarding")
def forwarding_resend(request, address_id: int):
    record = forwarding.resend_verification(user=request.user, address_id=address_id)
    messages.success(request, _("Another verification mail went to %(address)s.") % {"address": record.address})
    return redirect_after_post(request, reverse("rules:forwarding"))


@login_required
@require_POST
@user_errors(fallback="rules:forwarding")
def forwarding_delete(request, address_id: int):
    forwarding.delete_forwarding_address(user=request.user, address_id=address_id)
    messages.success(request, _("Forwarding address removed."))
    return redirect_after_post(request, reverse("rules:forwarding"))


@login_required
@require_POST
@user_errors(fallback="rules:forwarding")
def forwarding_all(request):
    setting = forwarding.set_auto_forward(
        user=request.user, address_id=request.POST.get("address") or None, keep=request.POST.get("keep", "inbox")
    )
    if setting.address_id:
        messages.success(request, _("All new mail is forwarded to %(address)s.") % {"address": setting.address})
    else:
        messages.success(request, _("Forwarding of all mail is off."))
    return redirect_after_post(request, reverse("rules:forwarding"))


@require_http_methods(["GET", "POST"])
def forwarding_verify(request, token: str):
    """The link in the verification mail: anyone holding it may confirm (GET shows, POST confirms)."""
    try:
        record = forwarding.forwarding_address_for_token(token)
        if request.method == "POST":
            record = forwarding.verify_forwarding_address(token=token)
    except InvalidVerificationLink as exc:
        raise Http404(exc.message) from exc
    own = addresses_of(record.user)
    context = {"record": record, "owner": own[0] if own else "", "confirmed": record.is_verified}
    return render(request, "rules/verify.html", context)
