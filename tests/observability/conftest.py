import pytest
from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """A scrape as {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def scrape(client):
    """GET /metrics from loopback (allowed by default); returns the parsed samples."""

    def get(**extra):
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **extra)
        assert response.status_code == 200, response.content
        return parse(response.content.decode())

    return get
