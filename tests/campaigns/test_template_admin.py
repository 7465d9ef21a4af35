"""The Django admin's view of templates: versions are shown, never edited."""

from tests.campaigns.template_factories import make_template


def test_a_version_is_read_only_in_the_admin(admin_client, alice):
    version = make_template().active_version

    page = admin_client.get(f"/admin/campaigns/templateversion/{version.pk}/change/")
    posted = admin_client.post(f"/admin/campaigns/templateversion/{version.pk}/change/", {"subject": "changed"})

    assert page.status_code == 200
    assert "Receipt {{ orderId }}" in page.content.decode()
    assert posted.status_code == 403
    version.refresh_from_db()
    assert version.subject == "Receipt {{ orderId }}"


def test_a_template_lists_its_versions_and_shows_the_active_one(admin_client, alice):
    template = make_template()

    listing = admin_client.get("/admin/campaigns/template/")
    page = admin_client.get(f"/admin/campaigns/template/{template.pk}/change/")

    assert listing.status_code == page.status_code == 200
    assert "order_receipt" in listing.content.decode()
    assert "Receipt {{ orderId }}" in page.content.decode()
