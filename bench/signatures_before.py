"""The signature cut as it was before the query-mark pre-check (harvester/_core/redact.py at
f6e1315), kept so that the bench measures before and after side by side in one run.

Before: a case-insensitive regular expression looked for any signature parameter's name or a
`\\u` escape anywhere in the text, then every JSON string of the document was matched and each
holding a `?` or a backslash decoded. The cut itself is the same (`cut_signed_query`).
"""

from __future__ import annotations

import json
import re

from harvester._core.redact import cut_signed_query
from harvester._core.text import storable

_MAYBE_SIGNED = re.compile(
    r"(?i)signature|credential|security-token|awsaccesskeyid|key-pair-id|\\u"
)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?')
_CSV_FIELD = re.compile(r'(?<![^,\r\n])(?:"(?:[^"]|"")*"|[^,\r\n"][^,\r\n]*)')


def strip_signatures(text: str, content_type: str = "application/json") -> str:
    if not _MAYBE_SIGNED.search(text):
        return text
    if content_type == "text/csv":
        return _CSV_FIELD.sub(_csv_cell, text)
    return _JSON_STRING.sub(_json_string, text)


def _json_string(match: re.Match[str]) -> str:
    token = match.group(0)
    if match.group(1) is not None or ("?" not in token and "\\" not in token):
        return token
    value = json.loads(token)
    cut = cut_signed_query(value) if isinstance(value, str) else None
    if cut is None:
        return token
    dumped = json.dumps(cut, ensure_ascii=False)
    return dumped if storable(dumped) else json.dumps(cut)


def _csv_cell(match: re.Match[str]) -> str:
    cell = match.group(0)
    quoted = cell.startswith('"')
    cut = cut_signed_query(cell[1:-1].replace('""', '"') if quoted else cell)
    if cut is None:
        return cell
    return '"' + cut.replace('"', '""') + '"' if quoted else cut
