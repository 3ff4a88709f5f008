"""One way to tell a person what is wrong in a document pydantic refused: one line per error,
naming the key, the reason and (shortened) the value given.

Pure (pydantic only), so both sides use it: the hub's settings, and the quota service's
settings, tier policy and CLI input (the quota image ships hub_config, like userdirs.py).
"""

from __future__ import annotations

from pydantic import ValidationError

# A value longer than this is cut, so one bad key cannot flood a log or a terminal.
MAX_SHOWN = 80


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def error_lines(
    exc: ValidationError, *, whole: str = "(document)", show_input: bool = True
) -> list[str]:
    """`key: reason (got value)` per error; `whole` names an error of the document itself."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or whole
        line = f"{key}: {err['msg']}"
        if show_input:
            line += f" (got {_shown(err.get('input'))})"
        lines.append(line)
    return lines


def format_validation_error(
    exc: ValidationError, heading: str, *, whole: str = "(document)"
) -> str:
    """`heading`, then each error on its own indented line."""
    return "\n".join([heading, *(f"  {line}" for line in error_lines(exc, whole=whole))])
