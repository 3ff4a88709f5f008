"""The tier-filtered server sizes: KubeSpawner's `profile_list` and the same form locally.

Profiles carry no `kubespawner_override`: the pre-spawn hook applies the size the quota
service decided (which can differ from the one chosen, e.g. in clean-up mode). The form
field names are KubeSpawner's (`profile`, `profile-option-<size>--allocation`,
`profile-option-<size>--release`), so `user_options` look the same for both spawners:
`{"profile": size, "allocation": id, "release": release id}`. The environment release
choice (policy `releases`, current first and preselected) is one option of every size.

KubeSpawner's form template renders every string of an entry WITHOUT escaping, and labels
carry user-supplied text (a consortium's name can be a requester's proposal reference), so
every text this module puts into an entry is HTML-escaped here, once (`escape_profile`).
"""

from __future__ import annotations

import html
from typing import Any

from tornado import web

from . import builders
from .hook import UNREACHABLE_MESSAGE, QuotaSpawnHook, Shared, SpawnRefused
from .quota_client import Allocation, Entitlements, QuotaUnavailable, Release, Size

GIB = 1024**3
# The entry keys KubeSpawner's form.html prints as text or attribute values.
TEXT_KEYS = ("slug", "display_name", "description")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def escape_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The entry with every displayed string HTML-escaped (attribute-safe: quotes too)."""
    out = dict(profile)
    for key in TEXT_KEYS:
        if isinstance(out.get(key), str):
            out[key] = _esc(out[key])
    options = out.get("profile_options")
    if isinstance(options, dict):
        out["profile_options"] = {
            _esc(name): {
                **option,
                "display_name": _esc(option["display_name"]),
                "choices": {
                    _esc(k): {**choice, "display_name": _esc(choice["display_name"])}
                    for k, choice in option["choices"].items()
                },
            }
            for name, option in options.items()
        }
    return out


def _gib(n: int) -> str:
    return f"{n / GIB:g}"


def _left(alloc: Allocation) -> str:
    if alloc.cpu_hours_left is None:
        return "no CPU-hour limit"
    return f"{alloc.cpu_hours_left:,.1f} CPU-hours left"


def size_profile(size: Size, ent: Entitlements) -> dict[str, Any]:
    """One `profile_list` entry: CPU, memory, cost per hour, CPU-hours left, charge-to choice."""
    allocations = [a for a in (ent.allocation(i) for i in size.allocation_ids) if a is not None]
    description = (
        f"{size.cpu_limit:g} CPU, {_gib(size.mem_limit_bytes)} GiB RAM · "
        f"costs {size.cpu_hours_per_hour:g} CPU-hours per hour"
    )
    if len(allocations) == 1:
        description += f" · {_left(allocations[0])} ({allocations[0].label})"
    profile: dict[str, Any] = {
        "slug": size.name,
        "display_name": size.display_name,
        "description": description,
        "kubespawner_override": {},
    }
    options: dict[str, Any] = {}
    if ent.releases:
        options["release"] = release_option(ent.releases)
    if len(allocations) > 1:
        options["allocation"] = {
            "display_name": "Charge to",
            "choices": {
                str(a.id): {
                    "display_name": f"{a.label} — {_left(a)}",
                    "kubespawner_override": {},
                }
                for a in allocations
            },
        }
    if options:
        profile["profile_options"] = options
    return profile


def release_option(releases: list[Release]) -> dict[str, Any]:
    """The "Environment" choice: one choice per release, the current one preselected."""
    choices: dict[str, Any] = {}
    for r in releases:
        label = f"{r.display_name} (current)" if r.current else f"{r.display_name} (previous)"
        choice: dict[str, Any] = {"display_name": label, "kubespawner_override": {}}
        if r.current:
            choice["default"] = True
        choices[r.id] = choice
    return {"display_name": "Environment", "choices": choices}


def build_profiles(ent: Entitlements) -> list[dict[str, Any]]:
    """Profiles for the sizes the user's allocations allow (only the smallest in clean-up)."""
    sizes = list(ent.sizes)
    if ent.cleanup_mode and sizes:
        sizes = [min(sizes, key=lambda s: (s.cpu_limit, s.mem_limit_bytes))]
    profiles = [size_profile(s, ent) for s in sizes]
    if ent.cleanup_mode and profiles:
        profiles[0]["description"] += (
            " · clean-up mode: your home is over its storage quota; delete files to get "
            "your usual sizes back"
        )
    if profiles:
        profiles[0]["default"] = True
    return [escape_profile(p) for p in profiles]


def fallback_profiles(hook: QuotaSpawnHook) -> list[dict[str, Any]]:
    size = builders.fallback_size(hook.fallback)
    profile = {
        "slug": size.name,
        "display_name": size.display_name,
        "description": f"{size.cpu_limit:g} CPU, {_gib(size.mem_limit_bytes)} GiB RAM · "
        "Entry limits while the quota service is unreachable",
        "kubespawner_override": {},
        "default": True,
    }
    return [escape_profile(profile)]


class ProfileList(Shared):
    """The `profile_list` callable: asks the quota service for the user's entitlements."""

    def __init__(self, hook: QuotaSpawnHook) -> None:
        self.hook = hook

    async def __call__(self, spawner: Any) -> list[dict[str, Any]]:
        try:
            ent = await self.hook.client.entitlements(spawner.user.name)
        except QuotaUnavailable as exc:
            self.hook.unreachable("profiles", exc)
            if self.hook.fail_mode == "closed":
                raise SpawnRefused(503, UNREACHABLE_MESSAGE) from None
            return fallback_profiles(self.hook)
        if not ent.sizes:
            raise web.HTTPError(403, "None of your allocations allows a server right now.")
        return build_profiles(ent)


def render_form(profiles: list[dict[str, Any]]) -> str:
    """The local spawner's options form, with KubeSpawner's field names.

    Like KubeSpawner's template it prints the entries as they are: they are escaped already.
    """
    rows = []
    for p in profiles:
        slug = p["slug"]
        checked = " checked" if p.get("default") else ""
        row = (
            f'<div class="nexus-size"><label><input type="radio" name="profile" '
            f'value="{slug}"{checked}> <strong>{p["display_name"]}</strong> — '
            f"{p['description']}</label>"
        )
        for name, option in p.get("profile_options", {}).items():
            choices = "".join(
                f'<option value="{k}"{" selected" if v.get("default") else ""}>'
                f"{v['display_name']}</option>"
                for k, v in option["choices"].items()
            )
            row += (
                f" <label>{option['display_name']} "
                f'<select name="profile-option-{slug}--{name}">{choices}</select></label>'
            )
        rows.append(row + "</div>")
    return "\n".join(rows)


class LocalOptionsForm(Shared):
    """`Spawner.options_form` callable for the local spawner."""

    def __init__(self, profile_list: ProfileList) -> None:
        self.profile_list = profile_list

    async def __call__(self, spawner: Any) -> str:
        return render_form(await self.profile_list(spawner))


def options_from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
    """Form → `user_options`: `profile` and `profile-option-<profile>--<name>` fields."""
    options: dict[str, str] = {}
    slug = (formdata.get("profile") or [""])[0]
    if slug:
        options["profile"] = slug
        prefix = f"profile-option-{slug}--"
        for key, values in formdata.items():
            if key.startswith(prefix) and values:
                options[key[len(prefix) :]] = values[0]
    return options
