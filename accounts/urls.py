from django.urls import path

from accounts import security_views, settings_views, views

app_name = "accounts"

urlpatterns = [
    path("signin/", views.sign_in, name="login"),
    path("signin/code/", security_views.sign_in_code, name="sign_in_code"),
    path("signin/forgot/", security_views.forgot_password, name="forgot_password"),
    path("signin/reset/<str:uidb64>/<str:token>/", security_views.reset_password, name="reset_password"),
    path("recovery/verify/<str:token>/", security_views.verify_recovery_address, name="verify_recovery_address"),
    path("signout/", views.sign_out, name="logout"),
    path("settings/", views.settings_index, name="settings"),
    path("settings/general/", settings_views.general, name="settings_general"),
    path("language/", settings_views.set_language, name="set_language"),
    path("settings/api-tokens/", views.api_tokens, name="api_tokens"),
    path("settings/tokens/", views.create_token, name="create_api_token"),
    path("settings/tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_api_token"),
    path("settings/security/", security_views.settings_security, name="settings_security"),
    path("settings/security/password/", security_views.change_password, name="change_password"),
    path("settings/security/two-step/", security_views.two_factor_setup, name="two_factor_setup"),
    path("settings/security/two-step/off/", security_views.two_factor_disable, name="two_factor_disable"),
    path(
        "settings/security/two-step/recovery-codes/",
        security_views.regenerate_recovery_codes,
        name="regenerate_recovery_codes",
    ),
    path("settings/security/recovery-address/", security_views.set_recovery_address, name="set_recovery_address"),
    path(
        "settings/security/recovery-address/remove/",
        security_views.remove_recovery_address,
        name="remove_recovery_address",
    ),
    path("settings/security/sessions/<int:session_id>/end/", security_views.end_session, name="end_session"),
    path("settings/security/sessions/end-others/", security_views.end_other_sessions, name="end_other_sessions"),
]
