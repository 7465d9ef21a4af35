from django.urls import path

from accounts import settings_views, views

app_name = "accounts"

urlpatterns = [
    path("signin/", views.sign_in, name="login"),
    path("signout/", views.sign_out, name="logout"),
    path("settings/", views.settings_index, name="settings"),
    path("settings/general/", settings_views.general, name="settings_general"),
    path("language/", settings_views.set_language, name="set_language"),
    path("settings/api-tokens/", views.api_tokens, name="api_tokens"),
    path("settings/tokens/", views.create_token, name="create_api_token"),
    path("settings/tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_api_token"),
]
