from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self):
        from campaigns.personalize import CampaignRenderer
        from delivery import personalization
        from delivery.services.events import events_recorded

        # The delivery engine asks this app for each campaign recipient's message.
        personalization.register(CampaignRenderer())
        events_recorded.connect(count_results, dispatch_uid="campaigns.count_results")


def count_results(sender, events, **kwargs):
    """A campaign's counters move with the delivery events of its recipients, in the same transaction."""
    from campaigns.services.results import count_campaign_events

    count_campaign_events(events)
