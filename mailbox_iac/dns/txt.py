"""TXT content as Cloudflare wants it (quoted strings of at most 255 bytes) and the one comparison
that every diff in mailbox-iac uses (`canonical`), so that re-quoting or re-splitting never shows as drift.
"""

from __future__ import annotations

MAX_STRING_BYTES = 255


def _escape(chunk: str) -> str:
    return chunk.replace("\\", "\\\\").replace('"', '\\"')


def split_bytes(value: str, limit: int = MAX_STRING_BYTES) -> list[str]:
    """Split into pieces of at most `limit` UTF-8 bytes without cutting a character in two (a character
    longer than `limit` stands alone)."""
    data = value.encode("utf-8")
    pieces: list[str] = []
    start = 0
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a continuation byte: the cut would fall inside a character
            end -= 1
        if end == start:
            end = start + 1
            while end < len(data) and data[end] & 0xC0 == 0x80:
                end += 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    pieces.append(data[start:].decode("utf-8"))
    return pieces


def quote(value: str, limit: int = MAX_STRING_BYTES) -> str:
    """`v=DKIM1; p=...` -> `"v=DKIM1; p=..." "...rest"` (RFC 1035 character-strings)."""
    return " ".join(f'"{_escape(piece)}"' for piece in split_bytes(value, limit))


def strings(content: str) -> list[str]:
    """The character-strings of TXT presentation content; unquoted content is one string."""
    content = content.strip()
    if not content.startswith('"'):
        return [content]
    out: list[str] = []
    i = 0
    while i < len(content):
        if content[i].isspace():
            i += 1
            continue
        if content[i] != '"':  # stray unquoted text between strings: keep it as its own string
            j = i
            while j < len(content) and not content[j].isspace() and content[j] != '"':
                j += 1
            out.append(content[i:j])
            i = j
            continue
        i += 1
        buf = []
        while i < len(content) and content[i] != '"':
            if content[i] == "\\" and i + 1 < len(content):
                i += 1
            buf.append(content[i])
            i += 1
        out.append("".join(buf))
        i += 1
    return out


def canonical(content: str) -> str:
    """The value a resolver hands to SPF/DKIM/DMARC parsers: strings unquoted and joined."""
    return "".join(strings(content))
