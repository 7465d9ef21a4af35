from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Mail platform administration"
admin.site.site_title = "Mail admin"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="mailboxes:inbox", permanent=False), name="home"),
    path("", include("accounts.urls")),
    path("", include("mailboxes.urls")),  # /mail/… and the mailbox settings under /settings/
    path("settings/", include("rules.urls")),
    path("marketing/", include("campaigns.urls")),
    path("", include("campaigns.public_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("webmail.api.urls")),
    # ESP webhooks (tracking events), authenticated by ANYMAIL_WEBHOOK_SECRET.
    path("anymail/", include("anymail.urls")),
    path("", include("observability.urls")),
]
