from django.urls import path

from mailboxes.views import compose, conversation, lists, live

app_name = "mailboxes"

urlpatterns = [
    path("", lists.folder, {"view": "inbox"}, name="inbox"),
    path("f/<slug:view>/", lists.folder, name="folder"),
    path("label/<int:label_id>/", lists.label, name="label"),
    path("labels/new/", lists.create_label, name="create_label"),
    path("label/<int:label_id>/delete/", lists.delete_label, name="delete_label"),
    path("search/", lists.search, name="search"),
    path("actions/", lists.bulk_action, name="bulk_action"),
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
]
