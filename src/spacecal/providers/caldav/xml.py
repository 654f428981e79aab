"""WebDAV/CalDAV XML: the request bodies spacecal sends and the answers it reads.

Answers are parsed with defusedxml: a server (any host a member types) could send
entity expansion bombs or external entities; those are refused, and a body that is
not XML is a `ProviderError` that never quotes the body.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import defusedxml.ElementTree as safe_etree
from defusedxml import DefusedXmlException

from spacecal.providers.base import ProviderError

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
#: spacecal's own namespace for the dead property marking calendars it made.
SPACECAL = "urn:spacecal:caldav"
MARKER = (SPACECAL, "created-by")
MARKER_VALUE = "spacecal"

QName = tuple[str, str]

DISPLAYNAME: QName = (DAV, "displayname")
RESOURCETYPE: QName = (DAV, "resourcetype")
GETETAG: QName = (DAV, "getetag")
SYNC_TOKEN: QName = (DAV, "sync-token")
CURRENT_USER_PRINCIPAL: QName = (DAV, "current-user-principal")
PRIVILEGE_SET: QName = (DAV, "current-user-privilege-set")
OWNER: QName = (DAV, "owner")
CALENDAR_HOME_SET: QName = (CALDAV, "calendar-home-set")
CALENDAR_USER_ADDRESS_SET: QName = (CALDAV, "calendar-user-address-set")
CALENDAR_DATA: QName = (CALDAV, "calendar-data")
CALENDAR_TIMEZONE: QName = (CALDAV, "calendar-timezone")
CALENDAR_DESCRIPTION: QName = (CALDAV, "calendar-description")
SCHEDULE_TRANSP: QName = (CALDAV, "schedule-calendar-transp")
COMPONENT_SET: QName = (CALDAV, "supported-calendar-component-set")


def _tag(name: QName) -> str:
    return f"{{{name[0]}}}{name[1]}"


def _element(name: QName) -> Element:
    return Element(_tag(name))


def _bytes(root: Element) -> bytes:
    text: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return text


def propfind(props: Iterable[QName]) -> bytes:
    root = _element((DAV, "propfind"))
    prop = SubElement(root, _tag((DAV, "prop")))
    for name in props:
        SubElement(prop, _tag(name))
    return _bytes(root)


def sync_collection(token: str | None) -> bytes:
    """RFC 6578 sync-collection: etags of members changed since `token` (None or ""
    for the initial sync)."""
    root = _element((DAV, "sync-collection"))
    SubElement(root, _tag((DAV, "sync-token"))).text = token or ""
    SubElement(root, _tag((DAV, "sync-level"))).text = "1"
    prop = SubElement(root, _tag((DAV, "prop")))
    SubElement(prop, _tag(GETETAG))
    return _bytes(root)


def calendar_multiget(hrefs: Sequence[str]) -> bytes:
    root = _element((CALDAV, "calendar-multiget"))
    prop = SubElement(root, _tag((DAV, "prop")))
    SubElement(prop, _tag(GETETAG))
    SubElement(prop, _tag(CALENDAR_DATA))
    for href in hrefs:
        SubElement(root, _tag((DAV, "href"))).text = href
    return _bytes(root)


def _calendar_props(parent: Element, name: str, timezone_ics: str, *, extras: bool) -> None:
    prop = SubElement(parent, _tag((DAV, "prop")))
    SubElement(prop, _tag(DISPLAYNAME)).text = name
    SubElement(prop, _tag(CALENDAR_TIMEZONE)).text = timezone_ics
    components = SubElement(prop, _tag(COMPONENT_SET))
    SubElement(components, _tag((CALDAV, "comp")), {"name": "VEVENT"})
    if extras:
        transp = SubElement(prop, _tag(SCHEDULE_TRANSP))
        SubElement(transp, _tag((CALDAV, "transparent")))
        SubElement(prop, _tag(MARKER)).text = MARKER_VALUE


def mkcalendar(name: str, timezone_ics: str, *, extras: bool = True) -> bytes:
    """RFC 4791 MKCALENDAR with the name, zone and VEVENT only; with `extras`, also
    transparent and spacecal's marker (servers refusing those refuse it all)."""
    root = _element((CALDAV, "mkcalendar"))
    _calendar_props(SubElement(root, _tag((DAV, "set"))), name, timezone_ics, extras=extras)
    return _bytes(root)


def extended_mkcol(name: str, timezone_ics: str) -> bytes:
    """RFC 5689 extended MKCOL making the calendar (servers without MKCALENDAR)."""
    root = _element((DAV, "mkcol"))
    set_ = SubElement(root, _tag((DAV, "set")))
    _calendar_props(set_, name, timezone_ics, extras=False)
    prop = set_.find(_tag((DAV, "prop")))
    assert prop is not None
    kind = SubElement(prop, _tag(RESOURCETYPE))
    SubElement(kind, _tag((DAV, "collection")))
    SubElement(kind, _tag((CALDAV, "calendar")))
    return _bytes(root)


def proppatch(values: dict[QName, str | QName]) -> bytes:
    """PROPPATCH setting each property to a text, or to one empty child element
    (schedule-calendar-transp's `<C:transparent/>`)."""
    root = _element((DAV, "propertyupdate"))
    prop = SubElement(SubElement(root, _tag((DAV, "set"))), _tag((DAV, "prop")))
    for name, value in values.items():
        element = SubElement(prop, _tag(name))
        if isinstance(value, tuple):
            SubElement(element, _tag(value))
        else:
            element.text = value
    return _bytes(root)


# --- reading answers ----------------------------------------------------------------


def parse(body: bytes) -> Element:
    """The root element of a server's XML answer, parsed safely."""
    try:
        root: Element = safe_etree.fromstring(body)
    except DefusedXmlException:
        raise ProviderError(
            "the server's XML answer uses entities or a DTD, which spacecal refuses"
        ) from None
    except (ParseError, ValueError):
        raise ProviderError("the server's answer is not well-formed XML") from None
    return root


def _status_code(text: str | None) -> int | None:
    # "HTTP/1.1 404 Not Found"
    parts = (text or "").split()
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return None


def href_path(href: str) -> str:
    """An href as a decoded path (servers answer absolute URLs or paths, encoded
    either way), for comparing two hrefs."""
    return unquote(urlsplit(href.strip()).path)


@dataclass
class DavResponse:
    """One `<response>` of a multistatus: its href, its own status (a sync-collection
    deletion: 404), and the properties found (status 200) by name."""

    href: str
    status: int | None
    props: dict[QName, Element] = field(default_factory=dict)
    #: every property named in a propstat, with that propstat's status
    statuses: dict[QName, int] = field(default_factory=dict)

    def text(self, name: QName) -> str | None:
        element = self.props.get(name)
        if element is None:
            return None
        return (element.text or "").strip()

    def hrefs(self, name: QName) -> list[str]:
        """The `<href>` values inside a property (current-user-principal, home-set)."""
        element = self.props.get(name)
        if element is None:
            return []
        return [(h.text or "").strip() for h in element.iter(_tag((DAV, "href"))) if (h.text or "")]

    def has_child(self, name: QName, child: QName) -> bool:
        element = self.props.get(name)
        return element is not None and element.find(f".//{_tag(child)}") is not None


@dataclass
class Multistatus:
    responses: list[DavResponse]
    sync_token: str | None


def multistatus(body: bytes) -> Multistatus:
    root = parse(body)
    if root.tag != _tag((DAV, "multistatus")):
        raise ProviderError("the server's answer is not a WebDAV multistatus")
    out: list[DavResponse] = []
    for item in root.findall(_tag((DAV, "response"))):
        href = item.find(_tag((DAV, "href")))
        if href is None or not (href.text or "").strip():
            continue
        response = DavResponse(
            href=(href.text or "").strip(),
            status=_status_code(item.findtext(_tag((DAV, "status")))),
        )
        for propstat in item.findall(_tag((DAV, "propstat"))):
            status = _status_code(propstat.findtext(_tag((DAV, "status")))) or 0
            prop = propstat.find(_tag((DAV, "prop")))
            for child in prop if prop is not None else ():
                if child.tag.startswith("{"):
                    uri, _, local = child.tag[1:].partition("}")
                    response.statuses[(uri, local)] = status
                    if status == 200:
                        response.props[(uri, local)] = child
        out.append(response)
    token = root.findtext(_tag(SYNC_TOKEN))
    return Multistatus(out, token.strip() if token else None)


def error_conditions(body: bytes) -> set[QName]:
    """The preconditions named in a `<DAV:error>` body (empty for anything else)."""
    if not body.strip().startswith(b"<"):
        return set()
    try:
        root = parse(body)
    except ProviderError:
        return set()
    if root.tag != _tag((DAV, "error")):
        return set()
    found: set[QName] = set()
    for child in root:
        if child.tag.startswith("{"):
            uri, _, local = child.tag[1:].partition("}")
            found.add((uri, local))
    return found
