"""Recognising the destination provider: by consumer domain, by MX host, by an MX lookup on loopback DNS."""

from core.providers import Provider, provider_for_domain, provider_for_domain_name, provider_for_mx_hosts


def test_consumer_domains_are_known_without_a_lookup():
    assert provider_for_domain_name("Gmail.com.") == Provider.GMAIL
    assert provider_for_domain_name("hotmail.co.uk") == Provider.MICROSOFT
    assert provider_for_domain_name("aol.com") == Provider.YAHOO
    assert provider_for_domain_name("me.com") == Provider.APPLE
    assert provider_for_domain_name("example.org") is None


def test_mx_hosts_name_the_provider():
    assert provider_for_mx_hosts(["aspmx.l.google.com."]) == Provider.GMAIL
    assert provider_for_mx_hosts(["contoso-com.mail.protection.outlook.com"]) == Provider.MICROSOFT
    assert provider_for_mx_hosts(["mta7.am0.yahoodns.net."]) == Provider.YAHOO
    assert provider_for_mx_hosts(["mx01.mail.icloud.com"]) == Provider.APPLE
    assert provider_for_mx_hosts(["mx.example.net", "alt1.aspmx.l.google.com"]) == Provider.GMAIL
    assert provider_for_mx_hosts(["mx.notgoogle.com.example"]) == Provider.OTHER
    assert provider_for_mx_hosts([]) == Provider.OTHER


def test_a_workspace_domain_is_recognised_by_its_mx(dns_server):
    dns_server.resolver.add("corp.example. 300 IN MX 1 aspmx.l.google.com.")
    dns_server.resolver.add("tenant.example. 300 IN MX 0 tenant-example.mail.protection.outlook.com.")
    assert provider_for_domain("corp.example") == Provider.GMAIL
    assert provider_for_domain("tenant.example") == Provider.MICROSOFT
    assert provider_for_domain("nowhere.example") == Provider.OTHER  # NXDOMAIN


def test_given_mx_hosts_spare_the_lookup():
    assert provider_for_domain("corp.example", mx_hosts=["mx01.mail.icloud.com"]) == Provider.APPLE
