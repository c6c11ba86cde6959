"""What each staff role may do, and within which cities or channels."""

from __future__ import annotations

from errors import Forbidden
from identity.models import StaffMember

PERMISSIONS: dict[str, frozenset[str]] = {
    "platform_admin": frozenset(
        {"catalogue.view", "catalogue.change", "audit.read", "staff.manage", "payments.view", "reconciliation.view"}
    ),
    "city_operator": frozenset({"catalogue.view", "catalogue.change", "audit.read"}),
    # Money moves only by the hand of those who answer for a channel's books.
    "channel_admin": frozenset(
        {
            "catalogue.view",
            "audit.read",
            "payments.view",
            "payments.refund",
            "reconciliation.view",
            "reconciliation.run",
            "reconciliation.resolve",
        }
    ),
}


def authorise(staff: StaffMember, action: str, *, city: str | None = None, channel: str | None = None) -> None:
    """Raise Forbidden unless the staff member's role allows the action on this city and channel."""
    if action not in PERMISSIONS[staff.role]:
        raise Forbidden("auth.forbidden", f"Your role ({staff.role}) may not do {action}.")
    if city is not None and staff.role == "city_operator" and city not in staff.cities:
        raise Forbidden("auth.city_out_of_scope", f"You do not operate city {city}.", {"city": city})
    if channel is not None and staff.role == "channel_admin" and channel not in staff.channels:
        raise Forbidden("auth.channel_out_of_scope", f"You do not administer channel {channel}.", {"channel": channel})


def visible_channels(staff: StaffMember, channels: tuple[str, ...]) -> tuple[str, ...]:
    """The channels whose catalogue entries a staff member may see."""
    if staff.role == "channel_admin":
        return tuple(channel for channel in channels if channel in staff.channels)
    return channels
