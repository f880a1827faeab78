"""WeChat's built-in 接龙 as it arrives: an app message of type 53, read from its XML (pure;
the transport turns it into the list text the parser reads)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

MAX_XML = 200_000  # longer app messages are not read


@dataclass(frozen=True)
class AppChain:
    text: str  # the list as members see it, starting with "#接龙"
    authors: tuple[str, ...]  # the wxid of each entry, in entry order ("" when not given)


def parse_app_chain(xml: str) -> AppChain | None:
    """The list and its entries' authors from a type-53 app message, or None if it is not one.

    The XML holds the list text in <appmsg><title> and, in <extinfo><solitaire_info> (itself
    XML in a CDATA), one <i> per entry whose <u> is the author's wxid.
    """
    if "<appmsg" not in xml or len(xml) > MAX_XML:
        return None
    start = xml.find("<")
    try:
        root = ElementTree.fromstring(xml[start:].strip())
    except ElementTree.ParseError:
        return None
    appmsg = root if root.tag == "appmsg" else root.find("appmsg")
    if appmsg is None or (appmsg.findtext("type") or "").strip() != "53":
        return None
    title = appmsg.findtext("title") or ""
    at = title.find("#接龙")
    text = title[at:] if at >= 0 else "#接龙\n" + title
    authors: list[str] = []
    info = appmsg.findtext("extinfo/solitaire_info") or ""
    if info.strip():
        try:
            solitaire = ElementTree.fromstring(info.strip())
            authors = [(entry.findtext("u") or "").strip() for entry in solitaire.iter("i")]
        except ElementTree.ParseError:
            authors = []
    return AppChain(text, tuple(authors))
