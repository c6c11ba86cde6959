"""What a message asks for: a keyword, a menu click, a location, an event; anything else gets the help.

Keywords match the whole message (after trimming and folding full-width characters), so a
sentence that merely mentions 公积金 is not taken as a balance request. 挪车 may carry a plate.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from chat.ports import CLICK
from chat.ports import EVENT
from chat.ports import FOLLOW
from chat.ports import LOCATION
from chat.ports import UNFOLLOW
from chat.ports import Incoming

HOUSING_FUND, CAR_MOVE, OUTPATIENT, PROGRESS = "housing_fund", "car_move", "outpatient", "progress"
WELCOME, HELP, PLACE, FAREWELL = "welcome", "help", "location", "farewell"
INTENTS = (HOUSING_FUND, CAR_MOVE, OUTPATIENT, PROGRESS, WELCOME, HELP, PLACE, FAREWELL)
# What an operator may bind a menu item or a keyword to.
MENU_INTENTS = (HOUSING_FUND, CAR_MOVE, OUTPATIENT, PROGRESS, HELP)
# Intents whose answer needs a city's upstream: answered within the channel's limit if it is quick.
UPSTREAM_INTENTS = (HOUSING_FUND, CAR_MOVE, PLACE)

# word (folded) -> (intent, the language the word is in).
KEYWORDS: dict[str, tuple[str, str]] = {
    "公积金": (HOUSING_FUND, "zh-CN"),
    "公积金余额": (HOUSING_FUND, "zh-CN"),
    "查公积金": (HOUSING_FUND, "zh-CN"),
    "housing fund": (HOUSING_FUND, "en"),
    "挪车": (CAR_MOVE, "zh-CN"),
    "move car": (CAR_MOVE, "en"),
    "挂号": (OUTPATIENT, "zh-CN"),
    "appointment": (OUTPATIENT, "en"),
    "进度": (PROGRESS, "zh-CN"),
    "我的": (PROGRESS, "zh-CN"),
    "我的申请": (PROGRESS, "zh-CN"),
    "my requests": (PROGRESS, "en"),
    "progress": (PROGRESS, "en"),
    "帮助": (HELP, "zh-CN"),
    "help": (HELP, "en"),
}
# 挪车 浙A12345, 挪车浙A12345, move car 浙A12345: the plate is checked by the car-move rules.
_WITH_PLATE = re.compile(r"(挪车|move car)\s*(\S.{0,15})")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Route:
    """What to do with a message, in which language, with what (a plate, a menu key)."""

    intent: str
    language: str
    argument: str = ""


def fold(text: str) -> str:
    """Trimmed, full-width folded (ＡＢＣ, 全角空格), spaces collapsed, lower case: how keywords are compared."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def route(incoming: Incoming, language: str, menu: Mapping[str, str], keywords: Mapping[str, str]) -> Route:
    """The route of a message in an account with this language, menu (key -> intent) and extra keywords."""
    if incoming.kind == LOCATION:
        return Route(PLACE, language)
    if incoming.kind == EVENT:
        events = {FOLLOW: WELCOME, UNFOLLOW: FAREWELL, CLICK: menu.get(incoming.event_key, HELP)}
        return Route(events.get(incoming.event, HELP), language)
    text = fold(incoming.text)
    extra = {fold(word): intent for word, intent in keywords.items()}
    if text in extra:
        return Route(extra[text], language)
    if text in KEYWORDS:
        intent, spoken = KEYWORDS[text]
        return Route(intent, spoken)
    with_plate = _WITH_PLATE.fullmatch(text)
    if with_plate is not None:
        return Route(CAR_MOVE, KEYWORDS[with_plate.group(1)][1], with_plate.group(2).upper())
    return Route(HELP, "en" if text.isascii() and text else language)
