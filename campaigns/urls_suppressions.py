from django.urls import path

from campaigns.views import suppressions

urlpatterns = [
    path("suppressions/", suppressions.suppression_list, name="suppressions"),
    path("suppressions/add/", suppressions.suppression_add, name="suppression_add"),
    path("suppressions/<int:entry_id>/remove/", suppressions.suppression_remove, name="suppression_remove"),
]
