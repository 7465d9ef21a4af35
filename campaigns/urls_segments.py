from django.urls import path

from campaigns.views import segments

urlpatterns = [
    path("segments/", segments.segment_list, name="segments"),
    path("segments/new/", segments.segment_new, name="segment_new"),
    path("segments/preview/", segments.segment_preview, name="segment_preview"),
    path("segments/<int:segment_id>/", segments.segment_edit, name="segment"),
    path("segments/<int:segment_id>/count/", segments.segment_count, name="segment_count"),
    path("segments/<int:segment_id>/delete/", segments.segment_delete, name="segment_delete"),
]
