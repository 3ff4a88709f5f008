"""The rendered z2jh hub pod, laid out locally: its files, its environment, its configuration.

`HubPod.from_render(objects, root, services)` writes every volume mount of the hub container
(ConfigMap and Secret items, subPath files included) under `root`, resolves the container's
environment the way the kubelet would (values, Secret and ConfigMap keys, the namespace field,
and the `<SERVICE>_SERVICE_HOST/PORT` variables of every rendered Service), and `load_config()`
runs z2jh's own `jupyterhub_config.py` on them, as `jupyterhub --config` does in the pod.

The two z2jh files name `/usr/local/etc/jupyterhub` literally; that prefix is the only text
rewritten, to the local folder standing in for it. Service host names are resolved by
`services` ({"name": "127.0.0.1:port"}), standing in for cluster DNS.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from tests.chart.chartlib import NAMESPACE, Obj, by_kind, pod_spec

POD_ETC = "/usr/local/etc/jupyterhub"


def secret_data(secret: Obj) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


@dataclass
class HubPod:
    root: Path
    env: dict[str, str]
    args: list[str]

    @classmethod
    def from_render(
        cls, objects: list[Obj], root: Path, services: dict[str, str] | None = None
    ) -> HubPod:
        deployment = by_kind(objects, "Deployment")["hub"]
        spec = pod_spec(deployment)
        (container,) = [c for c in spec["containers"] if c["name"] == "hub"]
        sources = _volume_sources(objects, spec)
        for mount in container.get("volumeMounts", []):
            files = sources.get(mount["name"])
            target = root / mount["mountPath"].lstrip("/")
            if files is None:  # a persistent volume: an empty folder
                target.mkdir(parents=True, exist_ok=True)
            elif "subPath" in mount:
                _write(target, files[mount["subPath"]])
            else:
                for key, text in files.items():
                    _write(target / key, text)
        env = _environment(objects, container, services or {})
        pod = cls(root=root, env=env, args=list(container.get("args") or []))
        pod._point_at_root()
        return pod

    @property
    def etc(self) -> Path:
        return self.root / POD_ETC.lstrip("/")

    @property
    def config_file(self) -> Path:
        (path,) = [a for a in self.args if a.endswith("jupyterhub_config.py")]
        return self.root / path.lstrip("/")

    def _point_at_root(self) -> None:
        for name in ("jupyterhub_config.py", "z2jh.py"):
            path = self.etc / name
            path.write_text(path.read_text().replace(POD_ETC, str(self.etc)))

    @contextmanager
    def environment(self) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update({k: v for k, v in saved.items() if k in {"PATH", "HOME", "KUBECONFIG"}})
        os.environ.update(self.env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def load_config(self) -> Config:
        """Run z2jh's jupyterhub_config.py (and through it hub.extraConfig) in this process."""
        loader = PyFileConfigLoader(self.config_file.name, path=str(self.config_file.parent))
        config: Config = loader.load_config()
        return config


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _volume_sources(objects: list[Obj], spec: Obj) -> dict[str, dict[str, str]]:
    config_maps, secrets = by_kind(objects, "ConfigMap"), by_kind(objects, "Secret")
    sources: dict[str, dict[str, str]] = {}
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            sources[volume["name"]] = dict(config_maps[volume["configMap"]["name"]]["data"])
        elif "secret" in volume:
            sources[volume["name"]] = secret_data(secrets[volume["secret"]["secretName"]])
    return sources


def _service_env(objects: list[Obj], services: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, svc in by_kind(objects, "Service").items():
        prefix = name.upper().replace("-", "_")
        host, _, local_port = services.get(name, "").partition(":")
        ports = svc["spec"].get("ports", [])
        env[f"{prefix}_SERVICE_HOST"] = host or name
        if ports:
            env[f"{prefix}_SERVICE_PORT"] = local_port or str(ports[0]["port"])
    return env


def _environment(objects: list[Obj], container: Obj, services: dict[str, str]) -> dict[str, str]:
    secrets = {name: secret_data(s) for name, s in by_kind(objects, "Secret").items()}
    config_maps = {name: cm.get("data", {}) for name, cm in by_kind(objects, "ConfigMap").items()}
    env = _service_env(objects, services)
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        source: dict[str, Any] = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[item["name"]] = config_maps[ref["name"]][ref["key"]]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[item["name"]] = NAMESPACE
        else:
            raise AssertionError(f"the test cannot resolve env {item['name']}: {source}")
    rendered = by_kind(objects, "Service")
    for name, value in list(env.items()):
        for service, address in services.items():
            port = rendered[service]["spec"]["ports"][0]["port"]
            value = value.replace(f"//{service}:{port}", f"//{address}")
        env[name] = value
    return env
