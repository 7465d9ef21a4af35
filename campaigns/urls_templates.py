from django.urls import path

from campaigns.views import templates as views

urlpatterns = [
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_new, name="template_new"),
    path("templates/preview/", views.template_preview, name="template_preview"),
    path("templates/<int:template_id>/", views.template_edit, name="template_edit"),
    path("templates/<int:template_id>/test/", views.template_test, name="template_test"),
    path("templates/<int:template_id>/delete/", views.template_delete, name="template_delete"),
    path("templates/<int:template_id>/versions/<int:version_id>/", views.version_preview, name="template_version"),
    path(
        "templates/<int:template_id>/versions/<int:version_id>/compare/",
        views.version_diff,
        name="template_version_diff",
    ),
    path(
        "templates/<int:template_id>/versions/<int:version_id>/activate/",
        views.version_activate,
        name="template_version_activate",
    ),
]
