"""Pages people reach from mail without signing in: unsubscribe, preferences, opt-in confirmation, tracking."""

from django.urls import path

from campaigns.views import confirm, tracking, unsubscribe

urlpatterns = [
    path("subscribe/confirm/<str:token>/", confirm.confirm, name="confirm_subscription"),
    path("u/<str:token>/", unsubscribe.unsubscribe_link, name="unsubscribe"),
    path("u/<str:token>/choice/", unsubscribe.unsubscribe_choice, name="unsubscribe_choice"),
    path("t/o/<str:token>.gif", tracking.open_pixel, name="track_open"),
    path("t/c/<str:token>", tracking.click_redirect, name="track_click"),
]
