"""Checks of base64 payloads and `data:` URLs that clients inline in content parts."""

from __future__ import annotations

import binascii
import re

# RFC 6838 type and subtype names, compared case-insensitively.
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$", re.IGNORECASE)


def check_base64(data: str, subject: str) -> None:
    """Raise ValueError unless `data` is standard base64 with padding and nothing else.

    Decoding is the check: `binascii` rejects characters outside the alphabet
    and wrong padding when `strict_mode` is on, and runs at memory speed.
    """
    if not data:
        raise ValueError(f"{subject} is empty; send the bytes base64-encoded")
    try:
        binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        raise ValueError(f"{subject} is not valid base64; send the bytes base64-encoded with padding") from None


def check_data_url(url: str, media_prefix: str, subject: str) -> None:
    """Raise ValueError unless `url` is `data:<type>/<subtype>;base64,<base64>` with a type under `media_prefix`."""
    header, separator, data = url.removeprefix("data:").partition(",")
    if not separator or not header.lower().endswith(";base64"):
        raise ValueError(f"{subject} must be a base64 `data:` URL: `data:<media type>;base64,<data>`")
    media_type = header[: -len(";base64")]
    if not _MEDIA_TYPE.match(media_type):
        raise ValueError(f"{subject} has the invalid media type `{media_type[:64]}`; expected `<type>/<subtype>`")
    if not media_type.lower().startswith(media_prefix):
        raise ValueError(f"{subject} has the media type `{media_type[:64]}`; expected a type under `{media_prefix}`")
    check_base64(data, f"the data of {subject}")
