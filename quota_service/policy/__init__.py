"""The tier policy: server sizes and allocation tiers, as one validated YAML document."""

from .loader import PolicyError, default_policy_text, load_policy, parse_policy
from .models import (
    GIB,
    HomeQuota,
    NoticePolicy,
    OverQuotaAction,
    Policy,
    Release,
    ReleaseImage,
    ServerSize,
    TierName,
    TierPolicy,
    Toleration,
)

__all__ = [
    "GIB",
    "HomeQuota",
    "NoticePolicy",
    "OverQuotaAction",
    "Policy",
    "PolicyError",
    "Release",
    "ReleaseImage",
    "ServerSize",
    "TierName",
    "TierPolicy",
    "Toleration",
    "default_policy_text",
    "load_policy",
    "parse_policy",
]
