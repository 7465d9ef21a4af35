from django.urls import path

from rules import views

app_name = "rules"

urlpatterns = [
    path("filters/", views.filters, name="filters"),
    path("filters/new/", views.filter_create, name="filter_create"),
    path("filters/<int:filter_id>/", views.filter_edit, name="filter_edit"),
    path("filters/<int:filter_id>/delete/", views.filter_delete, name="filter_delete"),
    path("filters/<int:filter_id>/move/", views.filter_move, name="filter_move"),
    path("blocked/", views.block, name="block"),
    path("blocked/from/<int:item_id>/", views.block_sender_of, name="block_sender_of"),
    path("blocked/<int:blocked_id>/delete/", views.unblock, name="unblock"),
    path("vacation/", views.vacation_reply, name="vacation"),
    path("forwarding/", views.forwarding_settings, name="forwarding"),
    path("forwarding/addresses/", views.forwarding_add, name="forwarding_add"),
    path("forwarding/addresses/<int:address_id>/resend/", views.forwarding_resend, name="forwarding_resend"),
    path("forwarding/addresses/<int:address_id>/delete/", views.forwarding_delete, name="forwarding_delete"),
    path("forwarding/all/", views.forwarding_all, name="forwarding_all"),
    path("forwarding/verify/<str:token>/", views.forwarding_verify, name="forwarding_verify"),
]
