from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django.utils.timezone import template_localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mailboxes.dates import full_date, short_date

register = template.Library()


@register.filter
def ago(value):
    """Short relative time for lists: "3 hours", "2 days" (one unit only)."""
    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return _("just now")
    return timesince(value, timezone.now(), depth=1)


@register.filter(expects_localtime=False)
def mail_date(value):
    """Short date for lists and messages: "14:05" today, "3 Dec" this year, "3 Dec 2025" before."""
    return short_date(value)


@register.filter(expects_localtime=False)
def mail_date_full(value):
    """The full date-time, for the ``title`` of a short one."""
    return full_date(value)


_STATUS_LABELS = {
    "queued": _("Queued"),
    "sending": _("Sending"),
    "sent": _("Sent"),
    "delivered": _("Delivered"),
    "deferred": _("Deferred"),
    "bounced": _("Bounced"),
    "suppressed": _("Suppressed"),
    "failed": _("Failed"),
}


@register.filter
def delivery_status(value):
    """A recipient's delivery status in the reader's language."""
    return _STATUS_LABELS.get(value, value)


@register.filter
def undo_url(message) -> str:
    """The "Undo" address a flash message carries (``extra_tags="undo:<url>"``, see mailboxes.views.undo)."""
    for tag in (getattr(message, "extra_tags", "") or "").split():
        if tag.startswith("undo:/"):
            return tag.removeprefix("undo:")
    return ""


@register.simple_tag
def thread_rows(threads, from_list: str, row_actions) -> str:
    """The rows of a conversation list, built here rather than in ``mailboxes/list.html``: the template
    engine spent about 0.7 ms of CPU a row on their sixty-odd nodes, most of a list page's CPU
    (``bench/pages.py --profile``); this is the same markup, escaped the same way."""
    t_star, t_snooze, t_actions = gettext("Star"), gettext("Snooze"), gettext("Actions")
    t_read, t_unread_action = gettext("Mark read"), gettext("Mark unread")
    t_attachments, t_unread = gettext("Has attachments"), gettext("unread")
    t_no_subject, t_nobody = gettext("(no subject)"), gettext("(nobody)")
    link_query = escape(from_list)
    snooze_button = (
        '<button type="button" class="icon-button" data-snooze-open="{pk}" aria-haspopup="dialog"'
        f' aria-label="{escape(t_snooze)}" title="{escape(t_snooze)}" hidden><svg aria-hidden="true"'
        ' focusable="false"><use href="#icon-snooze"></use></svg></button>\n          '
    )
    action_buttons = [
        snooze_button
        if name == "snooze"
        else f'<button type="submit" name="row" value="{escape(name)}:{{pk}}" class="icon-button"'
        f' aria-label="{escape(text)}" title="{escape(text)}" data-row-action="{escape(name)}"><svg'
        f' aria-hidden="true" focusable="false"><use href="#icon-{escape(icon)}"></use></svg></button>'
        for name, text, icon in row_actions
    ]
    read_button = _icon_button("read", t_read)
    unread_button = _icon_button("unread", t_unread_action)
    rows = []
    for t in threads:
        pk, url = t.pk, f"{escape(t.url)}?{link_query}"
        starred = t.is_starred
        senders = ", ".join(str(escape(_sender_name(s))) for s in (t.senders or [])[:3]) or escape(t_nobody)
        count = f' <span class="msg-count">{t.message_count}</span>' if t.message_count > 1 else ""
        chips = "".join(
            f'<span class="label-chip" data-color="{escape(label.color)}">{escape(label.name)}</span>'
            for label in getattr(t, "label_list", ())
        )
        found = getattr(t, "search_snippet", "")
        snippet = mark_safe(found) if found else escape(t.snippet)  # noqa: S308 - highlighted by the search
        clip = (
            f'<span class="clip" role="img" aria-label="{escape(t_attachments)}">📎</span>' if t.has_attachments else ""
        )
        # Attached by the list's selector where they apply (the snoozed view, a search)
        if snoozed_until := getattr(t, "snoozed_until", None):
            until = template_localtime(snoozed_until)
            back = gettext("Back %(when)s") % {"when": escape(date_filter(until, "SHORT_DATETIME_FORMAT"))}
            when = f'<time class="snoozed-until" datetime="{date_filter(until, "c")}">{back}</time>\n          '
        else:
            latest = t.latest_at
            when = (
                f'<time datetime="{date_filter(template_localtime(latest), "c")}"'
                f' title="{escape(full_date(latest))}">{escape(short_date(latest))}</time>'
            )
        unread = f'<span class="visually-hidden">{escape(t_unread)}</span>' if t.unread_count else ""
        rows.append(
            f'\n      <li class="thread{" unread" if t.unread_count else ""}" data-thread-id="{pk}"'
            f' data-thread-url="{url}">\n'
            f'        <input type="checkbox" name="thread" value="{pk}" aria-labelledby="subject-{pk}">\n'
            f'        <button type="submit" name="row" value="{"unstar" if starred else "star"}:{pk}"'
            f' class="star{" on" if starred else ""}" aria-pressed="{"true" if starred else "false"}"'
            f' aria-label="{escape(t_star)}" title="{escape(t_star)}" data-star><span aria-hidden="true">'
            f"{'★' if starred else '☆'}</span></button>\n"
            f'        <a class="thread-link" href="{url}">\n'
            f'          <span class="participants">{senders}{count}</span>\n'
            f'          <span class="subject-snippet"><span class="subject" id="subject-{pk}">'
            f"{escape(t.subject or t_no_subject)}</span>\n"
            f"            {chips}\n"
            f'            <span class="snippet">— {snippet}</span></span>\n'
            f"          {clip}\n"
            f"          {when}\n"
            f"          {unread}\n"
            "        </a>\n"
            f'        <span class="row-actions" role="group" aria-label="{escape(t_actions)}">\n'
            f"          {''.join(button.replace('{pk}', str(pk)) for button in action_buttons)}\n"
            f"          {(read_button if t.unread_count else unread_button).replace('{pk}', str(pk))}\n"
            "        </span>\n"
            "      </li>\n      "
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value above is escaped


def _sender_name(sender) -> str:
    """A stored sender (``Thread.senders``: ``{"name": …, "address": …}``) as the list shows it."""
    return (sender.get("name") or sender.get("address") or "") if isinstance(sender, dict) else ""


def _icon_button(action: str, text: str) -> str:
    return (
        f'<button type="submit" name="row" value="{action}:{{pk}}" class="icon-button" aria-label="{escape(text)}"'
        f' title="{escape(text)}" data-row-action="{action}"><svg aria-hidden="true" focusable="false">'
        f'<use href="#icon-{action}"></use></svg></button>\n          '
    )
