from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self):
        from observability import checks, tasks_metrics  # noqa: F401 (checks registers itself)

        tasks_metrics.connect()
