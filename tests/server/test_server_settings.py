"""The settings record and the rule that keeps models off the network without a key."""

from __future__ import annotations

import pytest

from polymodal.errors import BadInputError
from polymodal.server import ServerSettings, create_app
from polymodal.server.settings import is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_loopback_is_this_machine_only(host, loopback):
    assert is_loopback(host) is loopback


def test_the_default_listens_on_loopback_without_a_key():
    settings = ServerSettings().checked()
    assert settings.host == "127.0.0.1" and settings.api_key is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20"])
def test_another_host_without_a_key_is_refused_with_a_sentence(host):
    with pytest.raises(BadInputError, match="set an API key") as caught:
        ServerSettings(host=host).checked()
    assert caught.value.param == "api_key"
    with pytest.raises(BadInputError, match="set an API key"):
        create_app(ServerSettings(host=host))


def test_another_host_with_a_key_starts():
    assert ServerSettings(host="0.0.0.0", api_key=" k ").checked().api_key == "k"


def test_a_blank_key_is_no_key():
    with pytest.raises(BadInputError, match="empty"):
        ServerSettings(api_key="  ").checked()


def test_the_key_comes_from_the_environment_unless_given(monkeypatch):
    monkeypatch.setenv("POLYMODAL_API_KEY", "from-env")
    assert ServerSettings.from_env(host="0.0.0.0").checked().api_key == "from-env"
    assert ServerSettings.from_env(api_key="flag").api_key == "flag"
    # a flag left out (None) is "not given": the default stays
    assert ServerSettings.from_env(port=None).port == 8000


def test_every_family_pool_takes_its_limits_from_the_settings():
    from polymodal.server import FamilyLimits

    limits = {
        family: FamilyLimits(workers=1, queue=n)
        for n, family in enumerate(("speech", "embeddings", "images", "advisor", "generation"))
    }
    app = create_app(ServerSettings(**limits))
    state = app.state.polymodal
    try:
        for family, expected in limits.items():
            assert getattr(state, family).limits == expected, family
    finally:
        state.shutdown()
