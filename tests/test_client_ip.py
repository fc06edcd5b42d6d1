"""Which address rate limits and consent records use, with and without trusted proxies."""

from django.test import RequestFactory

from mlmw.proxy import client_ip


def request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_a_forged_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_behind_one_proxy_the_address_it_saw_is_used_not_what_the_client_claimed(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client claimed 10.0.0.1; our proxy appended the address it really saw.
    assert client_ip(request("10.1.1.1", "10.0.0.1, 198.51.100.7")) == "198.51.100.7"


def test_behind_two_proxies_the_outer_proxys_view_is_used(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert client_ip(request("10.1.1.1", "1.2.3.4, 198.51.100.7, 10.0.0.2")) == "198.51.100.7"


def test_a_short_forwarded_header_falls_back_to_the_socket_address(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert client_ip(request("10.1.1.1", "198.51.100.7")) == "10.1.1.1"
