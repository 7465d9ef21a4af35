"""The campaign world's fixtures (a shop, its marketer, lists, a newsletter) for the reputation tests."""

from tests.campaigns.campaign_world import everyone_fixture, newsletter_fixture, spring_fixture  # noqa: F401
from tests.campaigns.unsubscribe_world import marketer_fixture, shop_fixture  # noqa: F401
