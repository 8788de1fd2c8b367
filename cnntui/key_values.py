"""KEY=VALUE options (`--set`, `--opt`) read into typed values, as a preset would write them."""

from __future__ import annotations

import re
from typing import Any

from cnntui.errors import UsageError


def parse_key_values(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """KEY=VALUE strings given to `flag` into a dict, values read as int, float, bool or
    string."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            # Named: `run` takes both --set and --opt, and the bare word alone told not which.
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}")
        result[key.strip()] = _literal(raw.strip())
    return result


def _literal(raw: str) -> Any:
    if raw[:1] in ("{", "["):
        # The table and list keys (optimizer_args, model_options), as a preset writes them:
        # `--set 'optimizer_args={betas=[0.9,0.99]}'`; JSON's spelling is taken too.
        import json

        from cnntui.config import tomllib  # tomli before Python 3.11

        for parse in (lambda text: tomllib.loads(f"v = {text}")["v"], json.loads):
            try:
                return parse(raw)
            except ValueError:
                pass
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


# A bare word where a value goes in a TOML table or list: after `=`, `[` or `,`, before `,`,
# `}` or `]`.
_BARE_VALUE = re.compile(r"([=\[,]\s*)([A-Za-z_][\w.\-]*)(?=\s*[,}\]])")


def quoted_text_hint(key: str, raw: str) -> str:
    """For a table or list TOML cannot read because its text is bare (the shell took the
    quotes of `--set k={a="b"}`): the spelling that reads, or "" when quoting is not it."""
    from cnntui.config import tomllib  # tomli before Python 3.11

    def quoted(match: re.Match[str]) -> str:
        word = match.group(2)
        return (
            match.group(0)
            if word in ("true", "false", "inf", "nan")
            else f'{match.group(1)}"{word}"'
        )

    fixed = _BARE_VALUE.sub(quoted, raw)
    try:
        tomllib.loads(f"v = {fixed}")
    except ValueError:
        return ""
    if fixed == raw:
        return ""
    return (
        f"; TOML quotes text, and the shell keeps quotes inside single ones: --set '{key}={fixed}'"
    )
