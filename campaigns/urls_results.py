from django.urls import path

from campaigns.views import results

urlpatterns = [
    path("campaigns/<int:campaign_id>/results/", results.campaign_results, name="campaign_results"),
    path("campaigns/<int:campaign_id>/results.csv", results.campaign_results_csv, name="campaign_results_csv"),
]
