"""Sending a workspace's template: one message (``send_template``) or one per recipient (``send_template_batch``).

The variant is picked by locale (exact ``zh-hans``, then the language ``zh``,
then the default variant with no locale), its ACTIVE version is rendered, and
the message goes through the submission service with a ``TemplateSend`` that
pins the version and the variables (after defaults) in the same transaction,
so ``rerender`` gives the same subject, HTML and text later.

Every problem of a request is reported at once (``TemplateSendInvalid``: an
unknown template, each missing or mistyped variable, each bad or suppressed
address, with its field) before anything is stored.

Template sends keep NO copy in the sender's Sent folder. The sender is a
service account: a copy of every receipt would fill its mailbox, quota and
search index with mail nobody reads there, and cost a thread, a change-feed
row and an index update per message. The record of a send is the message
itself, its recipients' delivery status and its ``TemplateSend``. So the id a
send answers is the message's id, not a mailbox item's.

The batch is stored with a bulk path: every message is rendered and built
first, with its parsed view made from what was built (not by parsing the
bytes back: ``parse_built_message``, held to ``parse_message`` by the tests),
its blob files are written and flushed before the transaction, then blobs,
messages, recipients, events, idempotency keys and template sends are written
with one insert each (plain rows for all but the messages: ``core.bulk``) in
one transaction, and ONE delivery task for the queue is dispatched after commit.
"""

import contextlib
import dataclasses
import gc
import hashlib
import json
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.addresses import parse_address_list
from campaigns.mime import mime_and_parsed
from campaigns.models import Template, TemplateSend
from campaigns.rendering import Rendered, RenderError, render_version
from campaigns.unsubscribe import list_unsubscribe_headers
from campaigns.workspace import workspace_of
from core.bulk import insert_rows
from delivery.models import IdempotencyKey, SendScope
from delivery.services.metrics import Channel, counted_submission
from delivery.services.submission import IdempotencyKeyReused, enqueue_many_recipients, send_message
from delivery.services.suppression import Sending, refusing_entries, scope_summary
from mailboxes.blobstore import write_blob_files
from mailboxes.compose import Composition, compose, new_message_id
from mailboxes.models import Message, Recipient
from mailboxes.services.store import store_messages
from reputation.services.admission import admit_batch
from reputation.services.content import screen_service_batch
from webmail.errors import UserError

MAX_BATCH_RECIPIENTS = 1000
_STREAMS = {
    Template.Stream.TRANSACTIONAL: (Message.Stream.TRANSACTIONAL, Recipient.Queue.TRANSACTIONAL),
    Template.Stream.MARKETING: (Message.Stream.BULK, Recipient.Queue.BULK),
}


class TemplateSendInvalid(UserError):
    """Every problem of a template send, as ``{field: [messages]}`` (fields as the API names them)."""

    code = "invalid"

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        field, messages = next(iter(errors.items()))
        super().__init__(messages[0], field=field)


@counted_submission(Channel.TEMPLATE)
def send_template(
    *,
    user,
    template_key: str,
    variables: dict,
    to,
    cc=(),
    bcc=(),
    from_address: str | None = None,
    locale: str = "",
    attachments=(),
    idempotency_key: str | None = None,
) -> Message:
    """Render the workspace's template ``template_key`` for ``locale`` and queue it; returns the stored message.

    ``attachments`` are ids of the user's uploads (as for ``send_message``).
    With an ``idempotency_key`` already used by this user for the same request,
    the first message is returned and nothing is sent again.
    """
    fingerprint = _fingerprint(
        {"template": template_key, "locale": locale, "variables": variables, "to": list(to), "cc": list(cc),
         "bcc": list(bcc), "from": from_address, "attachments": list(attachments)}
    )  # fmt: skip
    if idempotency_key:
        earlier = _earlier(user, [idempotency_key], fingerprint)
        if earlier:
            return earlier[0]
    errors: dict[str, list[str]] = {}
    template = _variant(user, template_key, locale, errors)
    addresses = {name: _addresses(values, name, errors) for name, values in (("to", to), ("cc", cc), ("bcc", bcc))}
    if not any(addresses.values()) and "to" not in errors:
        errors.setdefault("to", []).append(_("Add at least one recipient."))
    if template:
        _refuse_suppressed({"": addresses}, errors, template=template)
        _require_one_marketing_recipient({"": addresses}, errors, template=template)
    _sender(user, from_address, errors)
    rendered = _render(template, variables, "", errors) if template else None
    if errors:
        raise TemplateSendInvalid(errors)
    message_stream, queue = _STREAMS[template.stream]
    version, values = template.active_version, rendered.values
    return send_message(
        user=user, from_address=from_address, to=to, cc=cc, bcc=bcc, subject=rendered.subject,
        text=rendered.text, html=rendered.html, upload_ids=attachments, idempotency_key=idempotency_key,
        fingerprint=fingerprint, queue=queue, stream=message_stream, sent_copy=False,
        headers=_unsubscribe_headers(template, addresses),
        on_stored=lambda message: TemplateSend.objects.create(
            message=message, version=version, variables=values, locale=locale
        ),
    )  # fmt: skip


@contextlib.contextmanager
def _young_collections_only():
    """No full garbage collection over the process's older objects while a batch runs.

    A batch allocates enough (a thousand compositions, renders, parsed views)
    to set off one full collection every other batch, a traversal of every
    object of the process (~170,000: Django, its modules, caches) costing
    80–200 ms. ``gc.freeze`` sets the objects that exist before the batch
    aside for its duration, so the collections it sets off only scan what it
    allocated (10–20 ms a batch); ``gc.unfreeze`` puts them back, and cycles
    among them are collected as before by the next full collection. A process
    that froze its objects itself (a pre-fork server keeping its pages shared)
    is left as it is: unfreezing would undo that.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@counted_submission(Channel.BATCH)
@_young_collections_only()
def send_template_batch(
    *,
    user,
    template_key: str,
    from_address: str | None,
    personalizations: list[dict],
    locale: str = "",
    idempotency_key: str | None = None,
) -> list[Message]:
    """One message per personalization (``{"to", "cc"?, "bcc"?, "variables"}``), all validated before any is stored.

    Errors name ``personalizations.<index>.<field>``. At most
    ``MAX_BATCH_RECIPIENTS`` recipients in all. With an ``idempotency_key``,
    a retry of the same request returns the first messages and sends nothing.
    """
    fingerprint = _fingerprint(
        {"template": template_key, "locale": locale, "from": from_address, "personalizations": personalizations}
    )
    keys = _batch_keys(idempotency_key, len(personalizations)) if idempotency_key else []
    if keys:
        earlier = _earlier(user, keys, fingerprint)
        if len(earlier) == len(keys):
            return earlier
    errors: dict[str, list[str]] = {}
    template = _variant(user, template_key, locale, errors)
    recipients, rendered = {}, {}
    for index, person in enumerate(personalizations):
        prefix = f"personalizations.{index}."
        recipients[index] = {
            name: _addresses(person.get(name, ()), prefix + name, errors) for name in ("to", "cc", "bcc")
        }
        if not recipients[index]["to"] and prefix + "to" not in errors:
            errors.setdefault(prefix + "to", []).append(_("Add at least one recipient."))
        if template:
            rendered[index] = _render(template, person.get("variables") or {}, prefix, errors)
    total = sum(len(a) for person in recipients.values() for a in person.values())
    if total > MAX_BATCH_RECIPIENTS:
        errors.setdefault("personalizations", []).append(
            _("A batch can have at most %(limit)d recipients (this one has %(count)d).")
            % {"limit": MAX_BATCH_RECIPIENTS, "count": total}
        )
    if template:
        people = {f"personalizations.{i}.": person for i, person in recipients.items()}
        _refuse_suppressed(people, errors, template=template)
        _require_one_marketing_recipient(people, errors, template=template)
    sender = _sender(user, from_address, errors)
    if errors:
        raise TemplateSendInvalid(errors)
    # Not a send_message submission: the content check and the admission (holds, domain, quotas,
    # compromise counters) are asked here, for the whole batch at once.
    samples = [rendered[index] for index in range(len(personalizations))]
    screen_service_batch(user=user, from_address=sender.from_address, samples=samples)
    admit_batch(
        user=user, from_address=sender.from_address,
        recipient_lists=[
            [address for pairs in recipients[index].values() for _name, address in pairs]
            for index in range(len(personalizations))
        ],
    )  # fmt: skip
    compositions = [
        _composition(sender, recipients[index], rendered[index], _unsubscribe_headers(template, recipients[index]))
        for index in range(len(personalizations))
    ]
    try:
        return _store_batch(
            user=user, template=template, locale=locale, compositions=compositions,
            values=[rendered[index].values for index in range(len(personalizations))], keys=keys,
            fingerprint=fingerprint,
        )  # fmt: skip
    except IntegrityError:
        if not keys:
            raise
        earlier = _earlier(user, keys, fingerprint)  # a concurrent retry won the race: answer as it did
        if len(earlier) != len(keys):
            raise
        return earlier


def rerender(template_send: TemplateSend) -> Rendered:
    """What a sent message's version renders to with the variables it was sent with (the same subject, HTML, text)."""
    return render_version(template_send.version, template_send.variables)


# --- the parts ---------------------------------------------------------------------------------


def _variant(user, key: str, locale: str, errors: dict) -> Template | None:
    """The workspace's variant for ``locale``: exact, then its language, then the default; else None and an error."""
    workspace = workspace_of(user)
    variants = {}
    if workspace is not None and isinstance(key, str):
        variants = {
            t.locale: t for t in Template.objects.filter(domain=workspace, key=key).select_related("active_version")
        }
    wanted = (locale or "").strip().lower().replace("_", "-")
    for candidate in (wanted, wanted.split("-")[0], ""):
        template = variants.get(candidate)
        if template is not None:
            break
    else:
        # Another workspace's template answers exactly as one that does not exist.
        errors.setdefault("templateId", []).append(_('There is no template "%(key)s".') % {"key": key})
        return None
    if template.active_version is None:
        errors.setdefault("templateId", []).append(_('Template "%(key)s" has no active version.') % {"key": key})
        return None
    return template


def _addresses(values, field: str, errors: dict) -> list[tuple[str, str]]:
    """Each entry checked on its own, so that every bad address is reported, not only the first."""
    if isinstance(values, str):
        values = [values]
    pairs = []
    for value in values or ():
        try:
            pairs += parse_address_list([value], field=field)
        except UserError as exc:
            errors.setdefault(field, []).append(exc.message)
    return pairs


def _refuse_suppressed(recipients: dict[str, dict[str, list]], errors: dict, *, template: Template) -> None:
    """Suppressed recipients are refused up front, in one query for the whole request.

    Asked with the template's stream and workspace, as the delivery engine will
    ask at send time: someone who left the newsletter still gets a receipt, and
    nobody on the global list (hard bounce, complaint) gets either.
    """
    stream = _STREAMS[template.stream][0]
    every = {addr.lower() for person in recipients.values() for pairs in person.values() for _name, addr in pairs}
    refused = refusing_entries(Sending(address=addr, stream=stream, domain_id=template.domain_id) for addr in every)
    by_address = {sending.address: entry for sending, entry in refused.items()}
    for prefix, person in recipients.items():
        for field, pairs in person.items():
            for _name, addr in pairs:
                if addr.lower() in by_address:
                    errors.setdefault(prefix + field, []).append(
                        _("%(address)s is a suppressed recipient (%(reason)s).")
                        % {"address": addr, "reason": scope_summary(by_address[addr.lower()])}
                    )


def _require_one_marketing_recipient(recipients: dict[str, dict[str, list]], errors: dict, *, template: Template):
    """A marketing message goes to one person: its List-Unsubscribe link unsubscribes exactly that address."""
    if template.stream != Template.Stream.MARKETING:
        return
    for prefix, person in recipients.items():
        if len(person["to"]) > 1 or person["cc"] or person["bcc"]:
            errors.setdefault(prefix + "to", []).append(
                _(
                    "A marketing message has one recipient, whose unsubscribe link it carries: "
                    "send one message per person (the batch form does)."
                )
            )


def _unsubscribe_headers(template: Template, recipients: dict[str, list]) -> dict[str, str]:
    """List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) for a marketing message's one recipient.

    Not sent for a list, so the link stands for all the workspace's marketing mail.
    """
    if template.stream != Template.Stream.MARKETING:
        return {}
    (_name, address), *_rest = recipients["to"]
    return list_unsubscribe_headers(domain=template.domain, address=address)


def _render(template: Template, values, prefix: str, errors: dict) -> Rendered | None:
    """The rendered message (with the values it used, defaults applied), or None with the problems in ``errors``."""
    version = template.active_version
    try:
        rendered = render_version(version, values)
    except RenderError as exc:
        for problem in exc.problems:
            field = prefix + (
                f"variables.{problem.variable}" if problem.part == "variables" and problem.variable else "variables"
            )
            errors.setdefault(field, []).append(str(problem))
        return None
    return rendered


def _sender(user, from_address: str | None, errors: dict) -> Composition | None:
    """The batch's sender checked once (it is the same for every message): a composition to copy per message."""
    try:
        return compose(user=user, from_address=from_address)
    except UserError as exc:
        errors.setdefault("from", []).append(exc.message)
        return None


def _composition(sender: Composition, recipients: dict, rendered: Rendered, headers: dict) -> Composition:
    composition = dataclasses.replace(
        sender, to=recipients["to"], cc=recipients["cc"], bcc=recipients["bcc"], subject=rendered.subject,
        text=rendered.text, html=rendered.html, message_id=new_message_id(sender.from_address),
        headers=list(headers.items()),
    )  # fmt: skip
    if len(composition.envelope_recipients()) > settings.MAIL_MAX_RECIPIENTS:
        raise TemplateSendInvalid(
            {
                "personalizations": [
                    _("A message can have at most %(n)d recipients.") % {"n": settings.MAIL_MAX_RECIPIENTS}
                ]
            }
        )
    return composition


def _store_batch(*, user, template, locale, compositions, values, keys, fingerprint) -> list[Message]:
    message_stream, queue = _STREAMS[template.stream]
    now = timezone.now()
    # One boundary for the batch: "=_" never occurs in quoted-printable, and the parser compiles a
    # pattern per distinct boundary (a thousand of them cost more than the rest of parsing).
    boundary = f"=_{secrets.token_hex(16)}"
    parsed = [mime_and_parsed(composition, now=now, boundary=boundary) for composition in compositions]
    # The files and their flush before the transaction (on SQLite, its one write lock). Not in a thread
    # beside the parsing: it waited for the interpreter after each system call, and took longer so.
    write_blob_files([raw for raw, _ in parsed])
    with transaction.atomic():
        messages = store_messages(
            parsed, status=Message.Status.QUEUED, sender=user,
            stream=message_stream, created_at=now,
        )  # fmt: skip
        enqueue_many_recipients(messages=list(zip(messages, compositions, strict=True)), queue=queue)
        # Plain rows, not model instances: a thousand of each cost more than their inserts.
        version_id = template.active_version_id
        insert_rows(
            TemplateSend,
            [
                {"message_id": message.pk, "version_id": version_id, "variables": used, "locale": locale}
                for message, used in zip(messages, values, strict=True)
            ],
        )
        # The workspace whose suppression entries bind these messages (send_message writes it for one).
        insert_rows(SendScope, [{"message_id": message.pk, "domain_id": template.domain_id} for message in messages])
        if keys:
            insert_rows(
                IdempotencyKey,
                [
                    {"user_id": user.pk, "key": key, "fingerprint": fingerprint, "message_id": message.pk}
                    for key, message in zip(keys, messages, strict=True)
                ],
            )
    return messages


def _batch_keys(idempotency_key: str, count: int) -> list[str]:
    """One stored key per message of a batch (the key is unique per message), still within 255 characters."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:48]
    return [f"batch:{digest}:{index}" for index in range(count)]


def _fingerprint(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _earlier(user, keys: Iterable[str], fingerprint: str) -> list[Message]:
    """The messages an earlier request with these idempotency keys stored, in the keys' order."""
    keys = list(keys)
    records = {r.key: r for r in IdempotencyKey.objects.select_related("message").filter(user=user, key__in=keys)}
    if any(r.fingerprint != fingerprint for r in records.values()):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different message.", field="idempotency_key"
        )
    return [records[key].message for key in keys if key in records]
