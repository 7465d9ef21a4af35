from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self):
        # The delivery engine asks this app for each campaign recipient's message.
        from campaigns.personalize import CampaignRenderer
        from delivery import personalization

        personalization.register(CampaignRenderer())
