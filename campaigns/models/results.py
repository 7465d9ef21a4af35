"""A campaign's results, counted as its delivery events are recorded (``campaigns.services.results``).

The results page reads these few rows, never the event log. Two kinds of
metric share them:

* **event metrics** count events: ``sent`` (handed to the recipient's server
  or mailbox), ``deferred``, ``bounced`` (``bounced_hard``/``bounced_soft``),
  ``rejected``, ``complained``, ``opened`` and ``clicked`` (people; their
  ``_unique`` first times; ``_machine``: privacy proxies and link scanners,
  counted apart), ``unsubscribed``;
* **state metrics** (``now_…``) count recipients by where their delivery
  stands now: each recipient is in at most one state, and an event that moves
  it adds one to the new state and takes one from the old (deferred, then
  sent: ``now_deferred`` back to 0, ``now_delivered`` 1). Their hourly rows
  are net changes, so the hours add up to the total.
"""

from django.db import models


class CampaignTally(models.Model):
    """One metric of a campaign, all time, for one destination domain ("" = all domains)."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="tallies")
    metric = models.CharField(max_length=24)
    domain = models.CharField(max_length=253, blank=True, help_text='Destination domain; "" for all of them.')
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "metric", "domain"], name="campaign_tally_unique"),
        ]

    def __str__(self):
        return f"{self.campaign_id} {self.metric} {self.domain or '*'}: {self.count}"


class CampaignHourlyTally(models.Model):
    """One metric of a campaign in one hour (UTC, the hour's start), all domains: the charts over time."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="hourly_tallies")
    metric = models.CharField(max_length=24)
    hour = models.DateTimeField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "metric", "hour"], name="campaign_hourly_tally_unique"),
        ]

    def __str__(self):
        return f"{self.campaign_id} {self.metric} {self.hour:%Y-%m-%d %H}h: {self.count}"


class CampaignLinkTally(models.Model):
    """People's clicks on one link of a campaign (a message holds few links, so these rows stay few)."""

    URL_MAX_LENGTH = 2000  # within an index entry's limit on PostgreSQL

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="link_tallies")
    url = models.CharField(max_length=URL_MAX_LENGTH)
    clicks = models.BigIntegerField(default=0)
    unique_clicks = models.BigIntegerField(default=0, help_text="Recipients' first clicks on the link.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "url"], name="campaign_link_tally_unique")]

    def __str__(self):
        return f"{self.campaign_id} {self.url}: {self.clicks}"
