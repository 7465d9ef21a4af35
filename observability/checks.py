"""A system check: multi-process metrics only work if the folder was exported before prometheus_client loaded."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def metrics_dir_exported_in_time(app_configs, **kwargs):
    from prometheus_client import values

    if settings.METRICS_DIR and values.ValueClass.__name__ != "MmapedValue":
        return [
            Warning(
                "prometheus_client was imported before settings exported PROMETHEUS_MULTIPROC_DIR: this "
                "process's metrics stay in memory and /metrics served by another process will not count them.",
                hint="Import nothing that imports prometheus_client before Django's settings are loaded, "
                "or set PROMETHEUS_MULTIPROC_DIR in the environment of the process.",
                id="observability.W001",
            )
        ]
    return []
