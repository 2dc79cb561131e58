"""Every text the pages show has its Simplified Chinese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "app/translations/zh_Hans/LC_MESSAGES/messages.po"
KEYWORDS = {"_": None, "_l": None, "lazy_gettext": None, "gettext": None}


def _extracted_ids() -> dict[str, str]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_every_interface_text_has_a_chinese_translation():
    """A text marked for translation anywhere in the app is translated into Chinese."""
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="zh_Hans")

    untranslated = {
        msgid: where
        for msgid, where in _extracted_ids().items()
        if msgid and not (catalog.get(msgid) and catalog.get(msgid).string)
    }

    assert untranslated == {}
