"""multipart/form-data with RFC 5987 / RFC 6266 file names: `filename*=UTF-8''%D0%BD.pdf`.

python-multipart drops `filename*` parameters, so Starlette would take such a part for a plain
form field (and the upload for missing). This parser decodes `filename*` and, as RFC 6266
asks, prefers it over a plain `filename`.
"""

from __future__ import annotations

import re
from email.utils import decode_rfc2231
from urllib.parse import unquote

from starlette.formparsers import MultiPartException, MultiPartParser

_EXTENDED = re.compile(r";\s*filename\*\s*=\s*([^;\s]+)", re.IGNORECASE)
_PLAIN = re.compile(r";\s*filename\s*=", re.IGNORECASE)


def extended_file_name(disposition: bytes) -> str | None:
    """The decoded `filename*` of a Content-Disposition value, None when it has none."""
    match = _EXTENDED.search(disposition.decode("latin-1"))
    if match is None:
        return None
    charset, _language, encoded = decode_rfc2231(match.group(1).strip('"'))
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError) as error:
        raise MultiPartException(f"undecodable filename* in a multipart part: {error}") from error


class Rfc5987MultiPartParser(MultiPartParser):
    def on_headers_finished(self) -> None:
        disposition = self._current_part.content_disposition or b""
        name = extended_file_name(disposition)
        if name is not None and not _PLAIN.search(disposition.decode("latin-1")):
            # A placeholder plain name makes the base class treat the part as a file.
            self._current_part.content_disposition = disposition + b'; filename="upload"'
        super().on_headers_finished()
        if name is not None and self._current_part.file is not None:
            self._current_part.file.filename = name
