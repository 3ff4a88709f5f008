"""Run a rendered pod's container here, as the kubelet would start it, with local stand-ins.

    pods = PodRunner(objects, efs_root, workdir, secrets={("nexus-secrets", "x"): "..."})
    result = pods.run(cronjob)                  # command + args, rendered env, mounts, uid
    proc = pods.start(deployment, log_path)     # long-running (the service)

Each process gets its own mount namespace (`unshare --mount`, we are root here), in which every
volumeMount of the container is bound at its own mountPath: ConfigMap volumes to a folder with
the rendered ConfigMap's files, emptyDirs to fresh folders, the EFS claim to `<efs_root>/<subPath>`
(owned by the notebook user, as the EFS access point makes every file: `access_point` gives
them that owner after each job, should a pod run as another uid). `readOnly` mounts and
`readOnlyRootFilesystem` are read-only binds. Then `setpriv` drops to the pod's runAsUser and
runAsGroup (keeping only the container's added capabilities, never gaining privileges) and
the container's command runs with the rendered environment only: `valueFrom` references are
resolved from the rendered Secrets and ConfigMaps, or from `secrets` for those the operator
provides. The command is looked up in the venv (the image's `nexus-quota`).

The interpreter lives under /root (mode 0700); inside the namespace /root is replaced by an
empty, world-readable tmpfs through which only the Python installation stays visible.
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.chart.chartlib import Obj, by_kind, pod_spec

VENV_BIN = Path(sys.executable).parent
# The checkout: the venv and the project installed into it (editable) live here.
CHECKOUT = Path(__file__).resolve().parents[2]
PYTHON_HOME = Path(os.path.realpath(sys.executable)).parents[2]  # e.g. /root/.pyenv/versions/X
EFS_UID, EFS_GID = 1000, 100  # what the chart's EFS access point enforces
PATH = f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"


class PodRunner:
    def __init__(
        self,
        objects: list[Obj],
        efs_root: Path,
        workdir: Path,
        *,
        secrets: dict[tuple[str, str], str] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.efs_root = efs_root
        self.workdir = workdir
        self.extra_env = extra_env or {}
        # Downward API fields of the next pod (`run(..., job=, index=)` sets them).
        self.fields: dict[str, str] = {}
        self.secret_values: dict[tuple[str, str], str] = {}
        for name, secret in by_kind(objects, "Secret").items():
            for key, value in (secret.get("data") or {}).items():
                self.secret_values[(name, key)] = base64.b64decode(value).decode()
            for key, value in (secret.get("stringData") or {}).items():
                self.secret_values[(name, key)] = str(value)
        self.secret_values.update(secrets or {})
        self.config_maps = {
            n: cm.get("data") or {} for n, cm in by_kind(objects, "ConfigMap").items()
        }
        self.claims = set(by_kind(objects, "PersistentVolumeClaim"))

    # -- what the kubelet would hand the container ---------------------------------------------
    def env(self, container: Obj) -> dict[str, str]:
        env: dict[str, str] = {"PATH": PATH, "HOME": "/srv/nexus"}
        for item in container.get("env", []):
            name = item["name"]
            if "value" in item:
                env[name] = str(item["value"])
                continue
            source = item["valueFrom"]
            if "fieldRef" in source:
                # The downward API: what `fields` gives for this pod (the Job's name, ...).
                path = source["fieldRef"]["fieldPath"]
                assert path in self.fields, f"{name}: downward API field {path} not given"
                env[name] = self.fields[path]
                continue
            ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
            assert ref is not None, f"{name}: unsupported valueFrom {source}"
            if "secretKeyRef" in source:
                value = self.secret_values.get((ref["name"], ref["key"]))
            else:
                value = self.config_maps.get(ref["name"], {}).get(ref["key"])
            if value is None:
                assert ref.get("optional"), f"{name}: {ref['name']}/{ref['key']} does not exist"
                continue
            env[name] = value
        env.update(self.extra_env)
        return env

    def _volume_source(self, pod_name: str, volume: Obj, mount: Obj) -> Path:
        name = str(volume["name"])
        if "configMap" in volume:
            folder = self.workdir / pod_name / "volumes" / name
            folder.mkdir(parents=True, exist_ok=True)
            data = self.config_maps[volume["configMap"]["name"]]
            for key, text in data.items():
                (folder / key).write_text(text)
            return folder
        if "emptyDir" in volume:
            folder = self.workdir / pod_name / "volumes" / name
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o1777)
            return folder
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            assert claim in self.claims, f"{pod_name}: claim {claim} is not rendered"
            folder = self.efs_root / str(mount.get("subPath", ""))
            if not folder.exists():
                folder.mkdir(parents=True)
                os.chown(folder, EFS_UID, EFS_GID)
            return folder
        raise AssertionError(f"{pod_name}: volume {name} of an unsupported kind: {volume}")

    def argv(self, obj: Obj) -> tuple[list[str], dict[str, str]]:
        """The wrapped command line of the workload's one container, and its environment."""
        pod = pod_spec(obj)
        (container,) = pod["containers"]
        pod_name = obj["metadata"]["name"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        ctx: dict[str, Any] = {
            **pod.get("securityContext", {}),
            **container.get("securityContext", {}),
        }
        script = [
            "set -e",
            # Python (under /root, mode 0700) stays reachable by any uid; /root shows nothing else.
            "mount -t tmpfs -o mode=755 tmpfs /mnt",
            f"mkdir -p /mnt/python && mount --bind {shlex.quote(str(PYTHON_HOME))} /mnt/python",
            # The checkout (the venv, the image's installation) is kept aside too: a pod mount
            # such as the /tmp emptyDir must not hide it when the checkout lives under /tmp.
            f"mkdir -p /mnt/checkout && mount --bind {shlex.quote(str(CHECKOUT))} /mnt/checkout",
            "mount -t tmpfs -o mode=755 tmpfs /root",
            f"mkdir -p {shlex.quote(str(PYTHON_HOME))}",
            f"mount --move /mnt/python {shlex.quote(str(PYTHON_HOME))}",
            # The image's tree the pod's paths live in, hidden from the host.
            "mount -t tmpfs -o mode=755 tmpfs /srv && mkdir -p /srv/nexus",
        ]
        checkout = shlex.quote(str(CHECKOUT))
        keep_checkout = (
            f"[ -e {checkout}/pyproject.toml ] || "
            f"{{ mkdir -p {checkout} && mount --bind /mnt/checkout {checkout}; }}"
        )
        for mount in container.get("volumeMounts", []):
            source = self._volume_source(pod_name, volumes[mount["name"]], mount)
            target = shlex.quote(mount["mountPath"])
            script.append(f"mkdir -p {target} && mount --bind {shlex.quote(str(source))} {target}")
            if mount.get("readOnly"):
                script.append(f"mount -o remount,bind,ro {target}")
            script.append(keep_checkout)
        if ctx.get("readOnlyRootFilesystem"):
            script.append("mount -o remount,bind,ro /")
        uid = int(ctx.get("runAsUser", 0))
        gid = int(ctx.get("runAsGroup", 0))
        drop = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        if ctx.get("allowPrivilegeEscalation") is False:
            drop.append("--no-new-privs")
        caps = ctx.get("capabilities", {})
        if "ALL" in caps.get("drop", []):
            keep = ",".join(f"+{c.lower()}" for c in caps.get("add", []))
            sets = "-all" + (f",{keep}" if keep else "")
            drop += [f"--inh-caps={sets}", f"--bounding-set={sets}"]
        command = [*container.get("command", []), *container.get("args", [])]
        assert command, f"{pod_name}: no command (the image's entrypoint is not run here)"
        env = self.env(container)
        exe = VENV_BIN / command[0]
        assert exe.exists(), f"{pod_name}: {command[0]} is not in the image (venv)"
        inner = [*drop, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), str(exe)]
        inner += command[1:]
        script.append("cd /srv/nexus")
        script.append("exec " + shlex.join(inner))
        wrapped = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c"]
        return [*wrapped, "\n".join(script)], env

    def run(
        self, obj: Obj, *, timeout: float = 300, job: str | None = None, index: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the workload's pod; for a CronJob, as a pod of the Job `job` (default: the
        CronJob's name + "-1") that the schedule made, and with an Indexed Job's `index`
        (JOB_COMPLETION_INDEX, 0 by default), as the Job controller sets them."""
        name = str(obj["metadata"]["name"])
        self.fields = {"metadata.labels['job-name']": job or f"{name}-1"}
        extra = dict(self.extra_env)
        spec = obj.get("spec", {}).get("jobTemplate", {}).get("spec", obj.get("spec", {}))
        if spec.get("completionMode") == "Indexed":
            self.extra_env["JOB_COMPLETION_INDEX"] = str(index or 0)
        try:
            argv, _ = self.argv(obj)
        finally:
            self.extra_env = extra
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        self.access_point()
        return result

    def access_point(self) -> None:
        """What the EFS access point does to every file a pod creates: uid 1000, gid 100.

        A pod running as another uid here leaves its own; on EFS the access point would have
        given them the notebook user."""
        for path in [self.efs_root, *self.efs_root.rglob("*")]:
            st = path.lstat()
            if (st.st_uid, st.st_gid) != (EFS_UID, EFS_GID):
                os.chown(path, EFS_UID, EFS_GID, follow_symlinks=False)

    def start(self, obj: Obj, log_path: Path) -> subprocess.Popen[bytes]:
        argv, _ = self.argv(obj)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            return subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
