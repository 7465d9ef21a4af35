"""API views: parse the request, call one service or selector, shape the answer.

An ``emailId`` is a mailbox item (one message as this user holds it); every
lookup goes through the user-scoped selectors, so another user's id is a 404
exactly like an id that does not exist.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from delivery.services import send_draft, send_message
from delivery.services.metrics import Channel
from delivery.services.suppression import bounce_warnings
from mailboxes import selectors
from mailboxes import services as mailbox_services
from mailboxes.blobstore import read_blob
from mailboxes.cursors import keyset_page
from mailboxes.exceptions import DraftNotFound, MessageTooLarge
from mailboxes.images import image_policy
from mailboxes.links import LinkKind, read_attachment_link, sign_attachment_link, use_once
from mailboxes.models import Folder, MailboxItem, Message
from mailboxes.parsing import parse_message
from mailboxes.sanitize import inline_image_urls, sanitize_html
from mailboxes.services.drafts import draft_composition
from mailboxes.services.uploads import attachments_from_uploads, create_upload
from webmail.api import serializers as s
from webmail.errors import NotFound, UserError

# --- helpers ------------------------------------------------------------------


def _valid(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer


def _query(request, serializer_class):
    return _valid(serializer_class, request.query_params).validated_data


def _summary_page(items, next_cursor) -> dict:
    return {"items": s.EmailSummarySerializer(items, many=True).data, "next_cursor": next_cursor}


PAGE_PARAMS = [
    OpenApiParameter("limit", int, description="1–100, default 50."),
    OpenApiParameter("cursor", str, description="`next_cursor` from the previous page."),
]
EMAIL_ID = OpenApiParameter("email_id", int, OpenApiParameter.PATH, description="An emailId.")


# --- sending and uploads -------------------------------------------------------

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyKeyInvalid(UserError):
    code = "invalid_idempotency_key"


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise IdempotencyKeyInvalid(
            "Idempotency-Key is 1 to 255 printable ASCII characters without spaces.", field="idempotency_key"
        )
    return key


def _send_result(request, message: Message) -> dict:
    # A new send's message comes with its Sent item and recipients as just written (``send_message``): the
    # answer is the state at acceptance, and ``delivery_url`` follows it. A repeated idempotent request, or
    # a draft sent, reads them.
    item = getattr(message, "sent_item", None)
    if item is None:
        item = MailboxItem.objects.only("pk", "thread_id").get(
            user=request.user, message=message, origin=MailboxItem.Origin.SENT
        )
    recipients = getattr(message, "queued_recipients", None)
    if recipients is None:
        recipients = list(message.recipients.order_by("pk"))
    return {
        "id": item.pk,
        "thread_id": item.thread_id,
        "message_id": message.message_id,
        "status": message.status,
        "delivery_url": request.build_absolute_uri(f"/api/emails/{item.pk}/delivery"),
        "recipients": [{"address": r.address, "kind": r.kind, "status": r.status} for r in recipients],
        # As the webmail warns at compose time: these bounced before, and are tried anyway.
        "warnings": [
            {"address": w.address, "bounced_at": w.bounced_at.isoformat(), "reason": w.detail}
            for w in bounce_warnings(r.address for r in recipients)
        ],
    }


class SendView(APIView):
    @extend_schema(
        operation_id="emails_send",
        summary="Send a message",
        description=(
            "Queues the message and answers 202 at once; follow `delivery_url` for each recipient's status. "
            "With an `Idempotency-Key` header, repeating the same request returns the first answer and sends "
            "nothing again; the same key with a different request is a 422. Content the outbound check refuses "
            "(scored as spam, a link to a blocked domain, through a URL shortener or an open redirect) is a 422 "
            "`content_refused` whose message names why (docs/ABUSE.md)."
        ),
        request=s.SendSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", str, OpenApiParameter.HEADER, description="Any unique string, e.g. a UUID."
            )
        ],
        responses={202: s.SendResultSerializer},
        examples=[
            OpenApiExample(
                "A message with an attachment",
                request_only=True,
                value={
                    "to": ["Bob <bob@example.org>"],
                    "cc": [],
                    "bcc": [],
                    "subject": "Invoice 42",
                    "body": "Hello Bob,\n\nthe invoice is attached.\n",
                    "attachments": [17],
                },
            )
        ],
        tags=["emails"],
    )
    def post(self, request):
        key = _idempotency_key(request)
        data = _valid(s.SendSerializer, request.data)
        message = send_message(
            user=request.user,
            **data.as_service_kwargs(),
            upload_ids=data.validated_data["attachments"],
            idempotency_key=key,
            via_api=True,
            channel=Channel.API,
        )
        return Response(_send_result(request, message), status=status.HTTP_202_ACCEPTED)


class UploadSerializer(s.serializers.Serializer):
    file = s.serializers.FileField(help_text="The file; at most MAIL_MAX_MESSAGE_BYTES (25 MB by default).")


class AttachmentUploadView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="attachments_upload",
        summary="Upload a file to attach",
        request={"multipart/form-data": UploadSerializer},
        responses={201: s.UploadResultSerializer},
        tags=["attachments"],
    )
    def post(self, request):
        upload = _valid(UploadSerializer, request.data).validated_data["file"]
        if upload.size > settings.MAIL_MAX_MESSAGE_BYTES:
            limit_mb = settings.MAIL_MAX_MESSAGE_BYTES / (1024 * 1024)
            raise MessageTooLarge(f"A file can be at most {limit_mb:.0f} MB.", field="file")
        record = create_upload(
            user=request.user, filename=upload.name, content=upload.read(), content_type=upload.content_type or ""
        )
        data = {k: getattr(record, k) for k in ("id", "filename", "content_type", "size", "created_at")}
        return Response(s.UploadResultSerializer(data).data, status=status.HTTP_201_CREATED)


# --- drafts ---------------------------------------------------------------------


def _draft_item(user, draft_id) -> MailboxItem:
    item = selectors.items_for(user).filter(pk=selectors.parse_pk(draft_id)).first()
    if item is None or item.message.status != Message.Status.DRAFT or item.folder != Folder.DRAFTS:
        raise DraftNotFound("No such draft.")
    return item


def _as_strings(entries) -> list[str]:
    """``(name, address)`` pairs back to the strings the services parse; the name quoted, or a comma splits it."""

    def quoted(name: str) -> str:
        return name.replace("\\", "\\\\").replace('"', '\\"')

    return [f'"{quoted(name)}" <{address}>' if name else address for name, address in entries]


def _save(request, serializer, *, draft_id=None, partial=False) -> MailboxItem:
    data = serializer.validated_data
    kwargs = serializer.as_service_kwargs()
    attachments = (
        attachments_from_uploads(user=request.user, upload_ids=data["attachments"])
        if ("attachments" in request.data)
        else None
    )
    if partial:
        current = draft_composition(user=request.user, item=_draft_item(request.user, draft_id))
        given = set(request.data) if hasattr(request.data, "keys") else set()
        present = {
            "from_address": "from", "to": "to", "cc": "cc", "bcc": "bcc", "subject": "subject", "text": "body",
            "html": "html",
        }  # fmt: skip
        fallback = {
            "from_address": current.from_address, "to": _as_strings(current.to), "cc": _as_strings(current.cc),
            "bcc": _as_strings(current.bcc), "subject": current.subject, "text": current.text, "html": current.html,
        }  # fmt: skip
        for name, field in present.items():
            if field not in given:
                kwargs[name] = fallback[name]
    return mailbox_services.save_draft(user=request.user, draft_id=draft_id, attachments=attachments, **kwargs)


def _draft_response(request, item, *, code=status.HTTP_200_OK) -> Response:
    item = selectors.get_item_for_user(user=request.user, item_id=item.pk)
    return Response(_detail_data(request, item), status=code)


class DraftListView(APIView):
    @extend_schema(
        operation_id="drafts_create",
        summary="Save a new draft",
        request=s.ComposeSerializer,
        responses={201: s.EmailDetailSerializer},
        tags=["drafts"],
    )
    def post(self, request):
        item = _save(request, _valid(s.ComposeSerializer, request.data))
        return _draft_response(request, item, code=status.HTTP_201_CREATED)


class DraftView(APIView):
    @extend_schema(operation_id="drafts_read", responses={200: s.EmailDetailSerializer}, tags=["drafts"])
    def get(self, request, draft_id):
        return _draft_response(request, _draft_item(request.user, draft_id))

    @extend_schema(
        operation_id="drafts_replace",
        summary="Replace a draft (fields left out are emptied; attachments left out are kept)",
        request=s.ComposeSerializer,
        responses={200: s.EmailDetailSerializer},
        tags=["drafts"],
    )
    def put(self, request, draft_id):
        _draft_item(request.user, draft_id)
        item = _save(request, _valid(s.ComposeSerializer, request.data), draft_id=draft_id)
        return _draft_response(request, item)

    @extend_schema(
        operation_id="drafts_update",
        summary="Change some fields of a draft",
        request=s.ComposeSerializer(partial=True),
        responses={200: s.EmailDetailSerializer},
        tags=["drafts"],
    )
    def patch(self, request, draft_id):
        _draft_item(request.user, draft_id)
        serializer = _valid(s.ComposeSerializer, request.data, partial=True)
        item = _save(request, serializer, draft_id=draft_id, partial=True)
        return _draft_response(request, item)

    @extend_schema(operation_id="drafts_delete", summary="Discard a draft", responses={204: None}, tags=["drafts"])
    def delete(self, request, draft_id):
        mailbox_services.discard_draft(user=request.user, draft_id=draft_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DraftSendView(APIView):
    @extend_schema(
        operation_id="drafts_send",
        summary="Send a draft",
        request=None,
        responses={202: s.SendResultSerializer},
        tags=["drafts"],
    )
    def post(self, request, draft_id):
        message = send_draft(user=request.user, draft_id=draft_id, channel=Channel.API)
        return Response(_send_result(request, message), status=status.HTTP_202_ACCEPTED)


# --- reading ----------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentLinks:
    download_url: str  # needs the caller's credentials, like every other call
    single_use_url: str  # needs none: works once, until expires_at
    expires_at: datetime


def _attachment_links(request, item) -> tuple[list, dict[int, AttachmentLinks]]:
    """The item's attachments, and the links of each one not held back by the scanner."""
    attachments = list(item.message.attachments.order_by("position"))
    expires = timezone.now() + timedelta(seconds=settings.API_DOWNLOAD_LINK_SECONDS)
    links = {}
    for attachment in attachments:
        if not attachment.is_available:
            continue
        token = sign_attachment_link(
            kind=LinkKind.API, user_id=request.user.pk, item_id=item.pk, attachment_id=attachment.pk
        )
        links[attachment.pk] = AttachmentLinks(
            download_url=request.build_absolute_uri(f"/api/emails/{item.pk}/attachments/{attachment.pk}"),
            single_use_url=request.build_absolute_uri(f"/api/downloads/{token}"),
            expires_at=expires,
        )
    return attachments, links


def _detail_data(request, item, *, remote_images: bool = False) -> dict:
    parsed = parse_message(read_blob(item.message.blob))
    attachments, links = _attachment_links(request, item)
    cid_url = inline_image_urls([a for a in attachments if a.pk in links], lambda a: links[a.pk].download_url)
    context = {
        "request": request,
        "parsed": parsed,
        "html": sanitize_html(
            parsed.html,
            # The same choice as the webmail's frame: asked for, or a sender the user always shows images from.
            allow_remote_images=remote_images or image_policy(user=request.user, item=item).trusted,
            cid_url=cid_url,
            keep_styles=True,
        ),
        "attachments": attachments,
        "attachment_links": links,
    }
    return s.EmailDetailSerializer(item, context=context).data


class MailboxView(APIView):
    @extend_schema(
        operation_id="mailbox_list",
        summary="List a folder, newest first",
        description="`folder` is inbox, sent, drafts, archive, spam, trash or starred. Pages with an opaque cursor "
        "that stays valid when new mail arrives.",
        parameters=[
            OpenApiParameter(
                "folder", str, OpenApiParameter.PATH, enum=[*Folder.values, "starred"], description="The folder."
            ),
            *PAGE_PARAMS,
        ],
        responses={200: s.EmailPageSerializer},
        tags=["mailbox"],
    )
    def get(self, request, folder):
        query = _query(request, s.PageQuerySerializer)
        if folder == "starred":
            items = selectors.starred_items(user=request.user)
        elif folder in Folder.values:
            items = selectors.items_in_folder(user=request.user, folder=folder)
        else:
            raise NotFound(f"There is no folder {folder[:40]!r}.")
        page, next_cursor = keyset_page(items, listing=folder, limit=query["limit"], cursor=query.get("cursor"))
        return Response(_summary_page(page, next_cursor))


class LabelMailboxView(APIView):
    @extend_schema(
        operation_id="mailbox_label_list",
        summary="List the mail carrying a label, newest first",
        parameters=PAGE_PARAMS,
        responses={200: s.EmailPageSerializer},
        tags=["mailbox"],
    )
    def get(self, request, label_id):
        query = _query(request, s.PageQuerySerializer)
        items = selectors.labelled_items(user=request.user, label_id=label_id)
        page, next_cursor = keyset_page(
            items, listing=f"label:{label_id}", limit=query["limit"], cursor=query.get("cursor")
        )
        return Response(_summary_page(page, next_cursor))


class EmailView(APIView):
    @extend_schema(
        operation_id="emails_read",
        summary="Read a message",
        parameters=[OpenApiParameter("remote_images", bool, description="Keep remote images in `html`.")],
        responses={200: s.EmailDetailSerializer},
        tags=["emails"],
    )
    def get(self, request, email_id):
        query = _query(request, s.EmailQuerySerializer)
        item = selectors.get_item_for_user(user=request.user, item_id=email_id)
        return Response(_detail_data(request, item, remote_images=query["remote_images"]))

    @extend_schema(
        operation_id="emails_delete",
        summary="Delete a message forever (only from Trash or Spam)",
        responses={204: None},
        tags=["emails"],
    )
    def delete(self, request, email_id):
        mailbox_services.delete_forever(user=request.user, item_ids=[email_id])
        return Response(status=status.HTTP_204_NO_CONTENT)


class RawEmailView(APIView):
    @extend_schema(
        operation_id="emails_raw",
        summary="The message exactly as received or sent",
        responses={(200, "message/rfc822"): OpenApiTypes.BINARY},
        tags=["emails"],
    )
    def get(self, request, email_id):
        raw = selectors.raw_message_for_user(user=request.user, item_id=email_id)
        response = HttpResponse(raw, content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="message-{int(email_id)}.eml"'
        return response


class DeliveryView(APIView):
    @extend_schema(
        operation_id="emails_delivery",
        summary="Delivery status per recipient, with its events",
        description="Only your own sent mail has recipients here; for other mail the list is empty.",
        responses={200: s.DeliverySerializer},
        tags=["emails"],
    )
    def get(self, request, email_id):
        recipients = selectors.delivery_status_for_user(user=request.user, item_id=email_id).prefetch_related("events")
        item = selectors.get_item_for_user(user=request.user, item_id=email_id)
        data = {"email_id": item.pk, "status": item.message.status, "recipients": recipients}
        return Response(s.DeliverySerializer(data).data)


def _attachment_response(item, attachment_id) -> HttpResponse:
    """The bytes of one clean attachment of ``item`` (already checked to be the caller's)."""
    attachment = item.message.attachments.select_related("blob").filter(pk=attachment_id).first()
    if attachment is None or not attachment.is_available:
        raise NotFound("No such attachment.")
    # Never rendered by the browser: a hostile HTML or SVG attachment stays a file.
    response = HttpResponse(read_blob(attachment.blob), content_type="application/octet-stream")
    response["Content-Disposition"] = _content_disposition(attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


class AttachmentView(APIView):
    @extend_schema(
        operation_id="attachments_download",
        summary="Download an attachment (`download_url` of the message's `attachments`)",
        description="Asks for the same credentials as every other call (the bearer token or the session); "
        "anyone whose mailbox does not hold the message gets a 404.",
        parameters=[EMAIL_ID, OpenApiParameter("attachment_id", int, OpenApiParameter.PATH)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        tags=["attachments"],
    )
    def get(self, request, email_id, attachment_id):
        item = selectors.get_item_for_user(user=request.user, item_id=email_id)
        return _attachment_response(item, attachment_id)


class SingleUseDownloadView(APIView):
    """The link is the credential: signed for one user, message and attachment; it expires, and works once."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="attachments_single_use",
        summary="Download an attachment without credentials, once (`single_use_url` of the message's `attachments`)",
        description="For a program that hands the file's address to something without the token (a browser, "
        "a download manager). The link works once, until `expires_at` (`API_DOWNLOAD_LINK_SECONDS`, "
        "300 by default), and only while the user it was made for still holds the message; read the "
        "message again for a new one. Treat it as a secret until it is used.",
        auth=[],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        tags=["attachments"],
    )
    def get(self, request, token):
        max_age = settings.API_DOWNLOAD_LINK_SECONDS
        link = read_attachment_link(token, kind=LinkKind.API, max_age=max_age)
        if link.item_id is None:
            raise NotFound("No such download.")
        user = User.objects.filter(pk=link.user_id, is_active=True).first()
        if user is None:
            raise NotFound("No such download.")
        item = selectors.get_item_for_user(user=user, item_id=link.item_id)
        use_once(link, max_age=max_age)
        return _attachment_response(item, link.attachment_id)


def _content_disposition(filename: str) -> str:
    from urllib.parse import quote

    ascii_name = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


class ThreadView(APIView):
    @extend_schema(
        operation_id="threads_read",
        summary="A conversation and its messages, oldest first",
        responses={200: s.ThreadSerializer},
        tags=["threads"],
    )
    def get(self, request, thread_id):
        thread = selectors.get_thread_for_user(user=request.user, thread_id=thread_id)
        items = list(selectors.thread_items(user=request.user, thread_id=thread.pk))
        return Response(s.ThreadSerializer(thread, context={"items": items}).data)


class SearchUnavailable(UserError):
    code = "search_unavailable"
    status = 503


class SearchView(APIView):
    @extend_schema(
        operation_id="emails_search",
        summary="Search with the query language",
        description="`from:` `to:` `cc:` `subject:` `label:` `in:` `is:unread` `is:starred` `has:attachment` "
        '`filename:` `before:` `after:` `larger:`, "quoted phrases", `-negation` and `OR`. A syntax error is a '
        "400 whose details name `q` and the position.",
        parameters=[
            OpenApiParameter("q", str, required=True, description="e.g. `from:bob has:attachment invoice`"),
            OpenApiParameter("order", str, enum=["date", "relevance"]),
            *PAGE_PARAMS,
        ],
        responses={200: s.SearchPageSerializer},
        tags=["emails"],
    )
    def get(self, request):
        query = _query(request, s.SearchQuerySerializer)
        try:
            from mailboxes.search import services as search_services  # built in parallel; optional until then
        except ImportError as exc:
            raise SearchUnavailable("Search is not available on this server yet.") from exc
        try:
            result = search_services.search(
                request.user, query["q"], limit=query["limit"], cursor=query.get("cursor"), order=query["order"]
            )
        except getattr(search_services, "QuerySyntaxError", ()) as exc:
            raise QueryInvalid(f"{exc.message} (at position {exc.position})", field="q") from exc
        items = selectors.items_for(request.user).in_bulk([hit.item_id for hit in result.hits])
        rows = []
        for hit in result.hits:
            item = items.get(hit.item_id)
            if item is not None:  # the index is eventually consistent: skip what was deleted since
                item.match, item.score = hit.snippet or "", hit.score
                rows.append(item)
        return Response({"items": s.SearchHitSerializer(rows, many=True).data, "next_cursor": result.next_cursor})


class QueryInvalid(UserError):
    code = "invalid_query"


# --- changing state ------------------------------------------------------------------

_ACTIONS = {
    "read": lambda user, ids, data: mailbox_services.mark_read(user=user, item_ids=ids, read=True),
    "unread": lambda user, ids, data: mailbox_services.mark_read(user=user, item_ids=ids, read=False),
    "star": lambda user, ids, data: mailbox_services.set_starred(user=user, item_ids=ids, starred=True),
    "unstar": lambda user, ids, data: mailbox_services.set_starred(user=user, item_ids=ids, starred=False),
    "archive": lambda user, ids, data: mailbox_services.archive_items(user=user, item_ids=ids),
    "trash": lambda user, ids, data: mailbox_services.trash_items(user=user, item_ids=ids),
    "restore": lambda user, ids, data: mailbox_services.restore_items(user=user, item_ids=ids),
    "spam": lambda user, ids, data: mailbox_services.mark_spam(user=user, item_ids=ids),
    "not_spam": lambda user, ids, data: mailbox_services.mark_not_spam(user=user, item_ids=ids),
    "move": lambda user, ids, data: mailbox_services.move_items(user=user, item_ids=ids, folder=data["folder"]),
    "add_labels": lambda user, ids, data: mailbox_services.add_labels(
        user=user, item_ids=ids, label_ids=data["labels"]
    ),
    "remove_labels": lambda user, ids, data: mailbox_services.remove_labels(
        user=user, item_ids=ids, label_ids=data["labels"]
    ),
}

_ACTION_EXAMPLES = [
    OpenApiExample("Mark as read", value={"action": "read"}, request_only=True),
    OpenApiExample("Move to Archive", value={"action": "move", "folder": "archive"}, request_only=True),
    OpenApiExample("Add labels", value={"action": "add_labels", "labels": [3, 5]}, request_only=True),
]


class EmailActionView(APIView):
    @extend_schema(
        operation_id="emails_action",
        summary="Change a message: read/unread, star, archive, trash, restore, spam, not spam, move, labels",
        request=s.ActionSerializer,
        responses={200: s.EmailSummarySerializer},
        examples=_ACTION_EXAMPLES,
        tags=["emails"],
    )
    def post(self, request, email_id):
        data = _valid(s.ActionSerializer, request.data).validated_data
        selectors.get_item_for_user(user=request.user, item_id=email_id)
        _ACTIONS[data["action"]](request.user, [email_id], data)
        item = selectors.get_item_for_user(user=request.user, item_id=email_id)
        return Response(s.EmailSummarySerializer(item).data)


class BulkActionView(APIView):
    @extend_schema(
        operation_id="emails_bulk_action",
        summary="The same change to many messages at once (all or none)",
        request=s.BulkActionSerializer,
        responses={200: s.CountSerializer},
        examples=[OpenApiExample("Trash three", value={"action": "trash", "ids": [1, 2, 3]}, request_only=True)],
        tags=["emails"],
    )
    def post(self, request):
        data = _valid(s.BulkActionSerializer, request.data).validated_data
        return Response({"updated": _ACTIONS[data["action"]](request.user, data["ids"], data)})


class EmailLabelsView(APIView):
    @extend_schema(
        operation_id="emails_labels",
        summary="Add and remove labels on a message",
        request=s.LabelChangeSerializer,
        responses={200: s.EmailSummarySerializer},
        examples=[OpenApiExample("Label it", value={"add": [3], "remove": []}, request_only=True)],
        tags=["emails"],
    )
    def post(self, request, email_id):
        data = _valid(s.LabelChangeSerializer, request.data).validated_data
        selectors.get_item_for_user(user=request.user, item_id=email_id)
        with transaction.atomic():
            if data["add"]:
                mailbox_services.add_labels(user=request.user, item_ids=[email_id], label_ids=data["add"])
            if data["remove"]:
                mailbox_services.remove_labels(user=request.user, item_ids=[email_id], label_ids=data["remove"])
        item = selectors.get_item_for_user(user=request.user, item_id=email_id)
        return Response(s.EmailSummarySerializer(item).data)


# --- labels ----------------------------------------------------------------------------


class LabelListView(APIView):
    @extend_schema(operation_id="labels_list", responses={200: s.LabelSerializer(many=True)}, tags=["labels"])
    def get(self, request):
        return Response(s.LabelSerializer(request.user.labels.order_by("name"), many=True).data)

    @extend_schema(
        operation_id="labels_create",
        request=s.LabelSerializer,
        responses={201: s.LabelSerializer},
        examples=[OpenApiExample("Invoices", value={"name": "Invoices", "color": "#16a34a"}, request_only=True)],
        tags=["labels"],
    )
    def post(self, request):
        data = _valid(s.LabelSerializer, request.data).validated_data
        label = mailbox_services.create_label(user=request.user, name=data["name"], color=data.get("color"))
        return Response(s.LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelView(APIView):
    @extend_schema(operation_id="labels_read", responses={200: s.LabelSerializer}, tags=["labels"])
    def get(self, request, label_id):
        return Response(s.LabelSerializer(selectors.get_label_for_user(user=request.user, label_id=label_id)).data)

    @extend_schema(
        operation_id="labels_update",
        request=s.LabelUpdateSerializer,
        responses={200: s.LabelSerializer},
        tags=["labels"],
    )
    def patch(self, request, label_id):
        data = _valid(s.LabelUpdateSerializer, request.data).validated_data
        label = mailbox_services.update_label(
            user=request.user, label_id=label_id, name=data.get("name"), color=data.get("color")
        )
        return Response(s.LabelSerializer(label).data)

    @extend_schema(operation_id="labels_delete", responses={204: None}, tags=["labels"])
    def delete(self, request, label_id):
        mailbox_services.delete_label(user=request.user, label_id=label_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ThreadActionView(APIView):
    @extend_schema(
        operation_id="threads_action",
        summary="The same change to a whole conversation, or to its messages in one list (`scope`)",
        request=s.ThreadActionSerializer,
        responses={200: s.CountSerializer},
        examples=[
            OpenApiExample("Archive from the Inbox", value={"action": "archive", "scope": "inbox"}, request_only=True)
        ],
        tags=["threads"],
    )
    def post(self, request, thread_id):
        data = _valid(s.ThreadActionSerializer, request.data).validated_data
        thread = selectors.get_thread_for_user(user=request.user, thread_id=thread_id)
        ids = selectors.item_ids_of_threads(user=request.user, thread_ids=[thread.pk], view=data.get("scope"))
        return Response({"updated": _ACTIONS[data["action"]](request.user, ids, data) if ids else 0})
