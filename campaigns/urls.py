"""The marketing area, at /marketing/. Each part keeps its routes in its own module."""

from django.urls import include, path

from campaigns.views import home

app_name = "campaigns"

urlpatterns = [
    path("", home.home, name="home"),
    path("", include("campaigns.urls_templates")),
    path("", include("campaigns.urls_contacts")),
    path("", include("campaigns.urls_suppressions")),
    path("", include("campaigns.urls_campaigns")),
    path("", include("campaigns.urls_results")),
    path("", include("campaigns.urls_segments")),
]
