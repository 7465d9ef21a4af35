"""Pages people reach from mail without signing in: unsubscribe, preferences, opt-in confirmation."""

from django.urls import path

from campaigns.views import confirm, unsubscribe

urlpatterns = [
    path("subscribe/confirm/<str:token>/", confirm.confirm, name="confirm_subscription"),
    path("u/<str:token>/", unsubscribe.unsubscribe_link, name="unsubscribe"),
    path("u/<str:token>/choice/", unsubscribe.unsubscribe_choice, name="unsubscribe_choice"),
]
