from django.urls import include, path

from mailboxes.views import compose, conversation, identities, labels, lists, live, schedule, transfer, undo

app_name = "mailboxes"

_mail = [
    path("", lists.folder, {"view": "inbox"}, name="inbox"),
    path("f/<slug:view>/", lists.folder, name="folder"),
    path("label/<int:label_id>/", lists.label, name="label"),
    path("labels/new/", lists.create_label, name="create_label"),
    path("label/<int:label_id>/delete/", lists.delete_label, name="delete_label"),
    path("label/<int:label_id>/edit/", labels.edit_label, name="edit_label"),
    path("search/", lists.search, name="search"),
    path("actions/", lists.bulk_action, name="bulk_action"),
    path("actions/<int:action_id>/undo/", undo.undo, name="undo_action"),
    path("f/<slug:view>/empty/", undo.empty_folder, name="empty_folder"),
    path("t/<int:thread_id>/", conversation.thread, name="thread"),
    path("t/<int:thread_id>/action/", conversation.thread_action, name="thread_action"),
    path("m/<int:item_id>/action/", conversation.item_action, name="item_action"),
    path("m/<int:item_id>/body/", conversation.body, name="body"),
    path("m/<int:item_id>/images/", conversation.images, name="images"),
    path("m/<int:item_id>/original/", conversation.original, name="original"),
    path("a/<str:token>/", conversation.attachment, name="attachment"),
    path("compose/", compose.compose, name="compose"),
    path("compose/save/", compose.save, name="save_draft"),
    path("compose/send/", compose.send, name="send"),
    path("compose/discard/", compose.discard, name="discard"),
    path("compose/upload/", compose.upload, name="upload"),
    path("compose/suggest/", compose.suggest, name="suggest"),
    path("compose/warnings/", compose.recipient_warnings, name="recipient_warnings"),
    path("outbox/<int:item_id>/undo/", compose.undo, name="undo"),
    path("outbox/<int:item_id>/send-now/", compose.send_now, name="send_now"),
    path("poll/", live.poll, name="poll"),
    # Schedule send, import and export (part: schedule).
    path("compose/schedule/", schedule.schedule, name="schedule_send"),
    path("scheduled/", schedule.scheduled, name="scheduled"),
    path("scheduled/<int:item_id>/cancel/", schedule.cancel, name="cancel_scheduled"),
    path("import/", transfer.start_import_view, name="start_import"),
    path("import/<int:job_id>/", transfer.import_status, name="import_status"),
    path("export/", transfer.export_mbox, name="export_mbox"),
    path("m/<int:item_id>/download/", transfer.download_message, name="download_message"),
    path("events/", live.events, name="events"),
]

# Mounted at the site's root (webmail/urls.py) so that the mailbox's settings pages live under /settings/.
urlpatterns = [
    path("mail/", include(_mail)),
    path("settings/identities/", identities.identities, name="identities"),
    path("settings/import-export/", transfer.import_export, name="import_export"),
]
