"""Number plates (号牌号码) as GA 36 writes civilian ones: read whole, and shown masked."""

from __future__ import annotations

import re

from errors import Invalid

# The 31 provincial abbreviations a civilian plate starts with.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# The issuing office's letter, then five letters or digits (7 characters), or a new-energy number of
# six (8 characters): D or F then a letter or digit and four digits (small), or five digits then D or F
# (large). Letters I and O are never used. Applied with fullmatch.
PLATE = re.compile(rf"[{PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{5}}|[DF][A-HJ-NP-Z0-9][0-9]{{4}}|[0-9]{{5}}[DF])")
PLATE_PURPOSE = "car_move.plate"


def read_plate(raw: str) -> str:
    """The plate in upper case without spaces or the middle dot, or Invalid car_move.invalid_plate."""
    plate = raw.strip().replace("·", "").replace(" ", "").upper()
    if PLATE.fullmatch(plate) is None:
        raise Invalid(
            "car_move.invalid_plate",
            "Not a plate: a province abbreviation, a letter, then 5 letters or digits (6 for new-energy cars); "
            "no I or O.",
            {"fields": {"plate": ["Not a valid plate, e.g. 浙A12345 or 浙AD12345."]}},
        )
    return plate


def mask_plate(plate: str) -> str:
    """Keep the province, the office letter and the last two characters: 浙A***45."""
    return plate[:2] + "*" * (len(plate) - 4) + plate[-2:]
