"""Pages people reach from mail without signing in: unsubscribe, preferences, opt-in confirmation."""

from django.urls import path

from campaigns.views import confirm

urlpatterns = [
    path("subscribe/confirm/<str:token>/", confirm.confirm, name="confirm_subscription"),
]
