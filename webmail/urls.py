from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Mail platform administration"
admin.site.site_title = "Mail admin"

urlpatterns = [
    # Until the webmail pages exist, the admin is the product's front door.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("webmail.api.urls")),
    # ESP webhooks (tracking events), authenticated by ANYMAIL_WEBHOOK_SECRET.
    path("anymail/", include("anymail.urls")),
]
