from django.urls import path, re_path

from campaigns.views import campaigns as views

urlpatterns = [
    path("campaigns/", views.campaign_list, name="campaigns"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/segment-counts/", views.segment_counts, name="campaign_segment_counts"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign"),
    path("campaigns/<int:campaign_id>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:campaign_id>/progress/", views.campaign_progress, name="campaign_progress"),
    path("campaigns/<int:campaign_id>/test/", views.campaign_test, name="campaign_test"),
    path("campaigns/<int:campaign_id>/delete/", views.campaign_delete, name="campaign_delete"),
    re_path(
        r"^campaigns/(?P<campaign_id>[0-9]+)/(?P<action>schedule|unschedule|pause|resume|cancel)/$",
        views.campaign_transition,
        name="campaign_transition",
    ),
]
