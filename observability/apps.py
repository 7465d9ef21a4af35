from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from observability import checks, tasks_metrics  # noqa: F401 (checks registers itself)
        from observability.logs import connect_celery_signals

        tasks_metrics.connect()
        connect_celery_signals()
