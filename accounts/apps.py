from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from accounts.security import record_session_on_login

        # Django's own hook, the one place every login() passes: the webmail's sign-in, the admin's form,
        # the test client's force_login. The sessions list must show all of them.
        user_logged_in.connect(record_session_on_login, dispatch_uid="accounts.record_session")
