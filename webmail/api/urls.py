from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from campaigns.api import segments as segment_views
from campaigns.api import views as campaign_views
from campaigns.api.results import CampaignResultsView
from webmail.api import views
from webmail.api.exceptions import json_not_found
from webmail.api.schedule import DraftScheduleView

urlpatterns = [
    path("emails/send", views.SendView.as_view(), name="api-send"),
    path("emails/send-template", campaign_views.SendTemplateView.as_view(), name="api-send-template"),
    path("emails/send-template/batch", campaign_views.SendTemplateBatchView.as_view(), name="api-send-template-batch"),
    path("emails/search", views.SearchView.as_view(), name="api-search"),
    path("emails/actions", views.BulkActionView.as_view(), name="api-bulk-action"),
    path("emails/drafts", views.DraftListView.as_view(), name="api-drafts"),
    path("emails/drafts/<int:draft_id>", views.DraftView.as_view(), name="api-draft"),
    path("emails/drafts/<int:draft_id>/send", views.DraftSendView.as_view(), name="api-draft-send"),
    path("emails/drafts/<int:draft_id>/schedule", DraftScheduleView.as_view(), name="api-draft-schedule"),
    path("emails/<int:email_id>", views.EmailView.as_view(), name="api-email"),
    path("emails/<int:email_id>/raw", views.RawEmailView.as_view(), name="api-email-raw"),
    path("emails/<int:email_id>/delivery", views.DeliveryView.as_view(), name="api-email-delivery"),
    path("emails/<int:email_id>/labels", views.EmailLabelsView.as_view(), name="api-email-labels"),
    path("emails/<int:email_id>/actions", views.EmailActionView.as_view(), name="api-email-action"),
    path("attachments", views.AttachmentUploadView.as_view(), name="api-attachments"),
    path(
        "emails/<int:email_id>/attachments/<int:attachment_id>",
        views.AttachmentView.as_view(),
        name="api-email-attachment",
    ),
    path("downloads/<str:token>", views.SingleUseDownloadView.as_view(), name="api-download"),
    path("mailbox/labels/<int:label_id>", views.LabelMailboxView.as_view(), name="api-mailbox-label"),
    path("mailbox/<str:folder>", views.MailboxView.as_view(), name="api-mailbox"),
    path("threads/<int:thread_id>", views.ThreadView.as_view(), name="api-thread"),
    path("threads/<int:thread_id>/actions", views.ThreadActionView.as_view(), name="api-thread-action"),
    path("segments", segment_views.SegmentListView.as_view(), name="api-segments"),
    path("segments/count", segment_views.DefinitionCountView.as_view(), name="api-segments-count"),
    path("segments/<int:segment_id>", segment_views.SegmentView.as_view(), name="api-segment"),
    path("segments/<int:segment_id>/count", segment_views.SegmentCountView.as_view(), name="api-segment-count"),
    path("labels", views.LabelListView.as_view(), name="api-labels"),
    path("labels/<int:label_id>", views.LabelView.as_view(), name="api-label"),
    path("", include("campaigns.api.campaigns")),
    path("campaigns/<int:campaign_id>/results", CampaignResultsView.as_view(), name="api-campaign-results"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    re_path(r"^.*$", json_not_found),
]
