"""The role matrix at its source: every role, every action, and scopes of more than one city or channel."""

from __future__ import annotations

import pytest

from errors import Forbidden
from identity.models import StaffMember
from identity.roles import PERMISSIONS
from identity.roles import authorise
from identity.roles import visible_channels

ACTIONS = (
    "catalogue.view",
    "catalogue.change",
    "audit.read",
    "staff.manage",
    "payments.view",
    "payments.refund",
    "reconciliation.view",
    "reconciliation.run",
    "reconciliation.resolve",
)
ALLOWED = {
    "platform_admin": {
        "catalogue.view",
        "catalogue.change",
        "audit.read",
        "staff.manage",
        "payments.view",
        "reconciliation.view",
    },
    "city_operator": {"catalogue.view", "catalogue.change", "audit.read"},
    "channel_admin": {
        "catalogue.view",
        "audit.read",
        "payments.view",
        "payments.refund",
        "reconciliation.view",
        "reconciliation.run",
        "reconciliation.resolve",
    },
}


def staff(role: str, cities: tuple[str, ...] = (), channels: tuple[str, ...] = ()) -> StaffMember:
    return StaffMember(username="s", role=role, cities=list(cities), channels=list(channels), active=True)


def refusal(member: StaffMember, action: str, **scope: str) -> str | None:
    try:
        authorise(member, action, **scope)
    except Forbidden as error:
        assert error.message, error.code
        return error.code
    return None


def test_an_out_of_scope_refusal_names_the_city_or_channel() -> None:
    with pytest.raises(Forbidden) as city:
        authorise(staff("city_operator", ("330100",)), "catalogue.change", city="440300")
    assert city.value.details == {"city": "440300"}
    with pytest.raises(Forbidden) as channel:
        authorise(staff("channel_admin", channels=("wechat",)), "catalogue.view", channel="alipay")
    assert channel.value.details == {"channel": "alipay"}


@pytest.mark.parametrize("role", sorted(ALLOWED))
@pytest.mark.parametrize("action", ACTIONS)
def test_each_role_may_do_exactly_its_actions(role: str, action: str) -> None:
    member = staff(role, ("330100",) if role == "city_operator" else (), ("wechat",) if role == "channel_admin" else ())
    assert refusal(member, action) == (None if action in ALLOWED[role] else "auth.forbidden")
    assert set(PERMISSIONS[role]) == ALLOWED[role]


@pytest.mark.parametrize("city", ["330100", "440300", "320100"])
def test_an_operator_of_several_cities_is_checked_against_every_one(city: str) -> None:
    # The operator's cities in an order where neither the first nor the last is the only one that counts.
    operator = staff("city_operator", ("440300", "320100", "330100"))
    for action in ("catalogue.view", "catalogue.change", "audit.read"):
        assert refusal(operator, action, city=city) is None


def test_an_operator_is_refused_a_city_outside_their_list() -> None:
    operator = staff("city_operator", ("440300", "330100"))
    assert refusal(operator, "catalogue.change", city="320100") == "auth.city_out_of_scope"
    assert refusal(operator, "catalogue.change", city="3301") == "auth.city_out_of_scope"


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_channel_admin_of_both_channels_is_checked_against_each(channel: str) -> None:
    assert refusal(staff("channel_admin", channels=("alipay", "wechat")), "catalogue.view", channel=channel) is None


def test_a_channel_admin_is_refused_a_channel_outside_their_list() -> None:
    assert refusal(staff("channel_admin", channels=("wechat",)), "catalogue.view", channel="alipay") == (
        "auth.channel_out_of_scope"
    )


def test_scopes_bind_only_the_role_they_belong_to() -> None:
    # A platform admin is never out of scope; an operator is not scoped by channel, nor a channel admin by city.
    assert refusal(staff("platform_admin"), "catalogue.change", city="330100", channel="wechat") is None
    assert refusal(staff("city_operator", ("330100",)), "catalogue.change", city="330100", channel="alipay") is None
    assert (
        refusal(staff("channel_admin", channels=("wechat",)), "catalogue.view", city="440300", channel="wechat") is None
    )


def test_visible_channels_narrow_only_channel_admins() -> None:
    both = ("wechat", "alipay")
    assert visible_channels(staff("channel_admin", channels=("alipay",)), both) == ("alipay",)
    assert visible_channels(staff("channel_admin", channels=("alipay", "wechat")), both) == both
    assert visible_channels(staff("city_operator", ("330100",)), both) == both
    assert visible_channels(staff("platform_admin"), both) == both
