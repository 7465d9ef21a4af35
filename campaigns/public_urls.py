"""Pages people reach from mail without signing in: unsubscribe, preferences, opt-in confirmation."""

from django.urls import path

from campaigns.views import unsubscribe

urlpatterns = [
    path("u/<str:token>/", unsubscribe.unsubscribe_link, name="unsubscribe"),
    path("u/<str:token>/choice/", unsubscribe.unsubscribe_choice, name="unsubscribe_choice"),
]
