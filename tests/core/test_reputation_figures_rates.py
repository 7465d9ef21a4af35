"""The rates the guardrails read, from the counts (reputation.figures)."""

from reputation.figures import Figures


def test_rates_use_the_providers_denominators():
    figures = Figures(delivered=950, bounced_hard=30, bounced_soft=10, expired=10, deferred=50, complained=2,
                      unknown_user=25)  # fmt: skip
    assert figures.sent == 1000
    assert figures.bounce_rate == 0.04  # expired apart from the bounces
    assert figures.hard_bounce_rate == 0.03
    assert figures.expired_rate == 0.01
    assert figures.complaint_rate == 2 / 950
    assert figures.deferral_rate == 50 / 1050
    assert figures.unknown_user_rate == 0.025


def test_no_volume_no_rate_and_figures_add_up():
    assert Figures().bounce_rate == 0.0 and Figures().complaint_rate == 0.0
    total = Figures(delivered=1) + Figures(delivered=2, complained=1)
    assert total == Figures(delivered=3, complained=1)
    assert Figures.from_counts({"delivered": 5, "unknown": 9}) == Figures(delivered=5)
