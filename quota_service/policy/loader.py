"""Load and validate the tier policy YAML, with errors that name the bad key and value."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub_config.validation import format_validation_error

from .models import Policy

DEFAULT_POLICY_RESOURCE = "default_policy.yaml"


class PolicyError(ValueError):
    """The policy document is missing, unreadable or invalid."""


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    if not isinstance(data, dict):
        raise PolicyError(f"invalid tier policy in {source}: expected a mapping at the top level")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(
            format_validation_error(exc, f"invalid tier policy in {source}:")
        ) from None


def default_policy_text() -> str:
    return resources.files("quota_service.policy").joinpath(DEFAULT_POLICY_RESOURCE).read_text()


def load_policy(path: Path | None = None) -> Policy:
    """Load the policy from `path`, or the packaged default when `path` is None."""
    if path is None:
        text, source = default_policy_text(), "the packaged default policy"
    else:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise PolicyError(f"cannot read tier policy {source}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"tier policy {source} is not valid YAML: {exc}") from None
    return parse_policy(data, source)
