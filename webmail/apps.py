from django.apps import AppConfig


class WebmailConfig(AppConfig):
    name = "webmail"
    verbose_name = "Mail platform"

    def ready(self):
        from webmail import checks  # noqa: F401 - registers the system checks
