"""Pages people reach from mail without signing in: unsubscribe, preferences, opt-in confirmation."""

from django.urls import path  # noqa: F401

urlpatterns = []
