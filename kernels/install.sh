#!/usr/bin/env bash
# Install one environment from its hash-locked requirements. Used by `make kernels` and the user image.
#
#   kernels/install.sh NAME PREFIX [KERNELSPEC_ROOT]
#
# NAME             a folder under kernels/ (roman-research-nexus, roman-calibration, lab-server)
# PREFIX           where the virtualenv goes (created if missing)
# KERNELSPEC_ROOT  a Jupyter data dir's kernels/ folder; the kernelspec is written to
#                  KERNELSPEC_ROOT/NAME/kernel.json (kernel folders only)
#
# Environment: PYTHON (interpreter for the venv, default pythonX.Y for the X.Y in
#              kernels/python-version, which the locks are resolved for),
#              UV (uv binary; falls back to pip), CRDS_PATH (reference-file cache written into the
#              Roman Calibration kernelspec, default $HOME/crds_cache), REFDATA (a tree of
#              package data laid out as STScI's tutorials install it: kernels/refdata/; when
#              unset, the kernelspecs leave STPSF_PATH, PYSYN_CDBS, ... unset).
set -euo pipefail

usage() { echo "usage: $0 NAME PREFIX [KERNELSPEC_ROOT]" >&2; exit 2; }
[ $# -ge 2 ] || usage
NAME=$1
PREFIX=$2
SPEC_ROOT=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$HERE/$NAME
[ -f "$DIR/requirements.txt" ] || { echo "error: no kernels/$NAME/requirements.txt (known: $(cd "$HERE" && ls -d */ | tr -d / | tr '\n' ' '))" >&2; exit 2; }

WANT=$(cat "$HERE/python-version")
PYTHON=${PYTHON:-python$WANT}
[ "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$WANT" ] \
  || { echo "error: $PYTHON is not Python $WANT; the locks are resolved for $WANT (set PYTHON=...)" >&2; exit 2; }

mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
if [ -n "$SPEC_ROOT" ]; then mkdir -p "$SPEC_ROOT" && SPEC_ROOT=$(cd "$SPEC_ROOT" && pwd); fi
if [ ! -x "$PREFIX/bin/python" ]; then
  echo "==> creating $PREFIX"
  "$PYTHON" -m venv "$PREFIX"
fi
VPY=$PREFIX/bin/python
# Install with the venv isolated, so every locked package lands in it.
sed -i 's/^include-system-site-packages = true/include-system-site-packages = false/' \
  "$PREFIX/pyvenv.cfg"

echo "==> installing kernels/$NAME/requirements.txt into $PREFIX"
if [ -n "${UV:-}" ] || command -v uv >/dev/null 2>&1; then
  UV=${UV:-$(command -v uv)}
  UV_PYTHON_DOWNLOADS=never "$UV" pip install --quiet --python "$VPY" --require-hashes \
    -r "$DIR/requirements.txt"
else
  "$VPY" -m pip install --quiet --no-cache-dir --require-hashes -r "$DIR/requirements.txt"
fi

# Platform defaults for fsspec (the S3 cache type), read through FSSPEC_CONFIG_DIR,
# and the cache class they name, registered at interpreter start by a .pth file.
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$PREFIX/etc/fsspec"
cp "$HERE/fsspec/conf.json" "$PREFIX/etc/fsspec/conf.json"
if "$VPY" -c 'import fsspec' 2>/dev/null; then
  cp "$HERE/fsspec/nexus_fsspec.py" "$HERE/fsspec/nexus_fsspec.pth" "$SITE/"
fi

# Small platform modules shipped with a kernel (plain files, no third-party code).
if [ -f "$DIR/kernel.json" ]; then
  cp "$HERE/common/sitecustomize.py" "$SITE/"
fi
if [ -d "$DIR/site" ]; then
  cp "$DIR"/site/*.py "$SITE/"
  # .pth files start a module at interpreter start (lab-server: nexus_lazy_iri, a faster start)
  if compgen -G "$DIR/site/*.pth" >/dev/null; then cp "$DIR"/site/*.pth "$SITE/"; fi
fi

# The server environment offers only the platform's kernels: no bare "Python 3" from its own
# ipykernel (a dependency of some widget packages).
if [ "$NAME" = "lab-server" ]; then
  rm -rf "$PREFIX/share/jupyter/kernels/python3"
  # The env's own jupyter_server_config.json: jupyter-server reads only jpserver_extensions from
  # jupyter_server_config.d/*.json, so settings placed there were never applied.
  mkdir -p "$PREFIX/etc/jupyter"
  rm -f "$PREFIX/etc/jupyter/jupyter_server_config.d/nexus-lab.json"
  cp "$DIR/jupyter_server_config.json" "$PREFIX/etc/jupyter/jupyter_server_config.json"
  # JupyterLab's page settings: no build check at each page load (it runs yarn on the server;
  # every extension here is prebuilt and the env is read-only to the person).
  mkdir -p "$PREFIX/etc/jupyter/labconfig"
  cp "$DIR/page_config.json" "$PREFIX/etc/jupyter/labconfig/page_config.json"
  # Personal environments (kernels/envtools): kernel-create, kernel-list and kernel-delete on the
  # server's PATH, with a link to the uv that installed this env beside them (they run it).
  if [ -n "${UV:-}" ]; then
    "$UV" pip install --quiet --python "$VPY" --no-deps --reinstall-package nexus-envtools \
      "$HERE/envtools"
    ln -sfn "$(cd "$(dirname "$UV")" && pwd)/$(basename "$UV")" "$PREFIX/bin/uv"
  else
    "$VPY" -m pip install --quiet --no-cache-dir --no-deps "$HERE/envtools"
  fi
  # Bytecode now, once: in the image the env is read-only to the person, so without it every
  # server start would compile each module it imports (docs/performance.md, sign-in).
  "$VPY" -m compileall -q -j 0 "$SITE" >/dev/null || true
fi

# Kernels stay isolated (include-system-site-packages = false, set above): no user site, so
# `pip install --user` cannot shadow a locked package (pip refuses it in such a venv), and the
# kernelspecs also set PYTHONNOUSERSITE=1. Personal packages go to kernel-create environments.

if [ -f "$DIR/kernel.json" ] && [ -n "$SPEC_ROOT" ]; then
  mkdir -p "$SPEC_ROOT/$NAME"
  "$VPY" - "$DIR/kernel.json" "$SPEC_ROOT/$NAME/kernel.json" "$PREFIX" "${CRDS_PATH:-$HOME/crds_cache}" "${REFDATA:-}" <<'PY'
import json, sys
src, dst, prefix, crds_path, refdata = sys.argv[1:6]
text = open(src, encoding="utf-8").read()
text = text.replace("@PREFIX@", prefix).replace("@CRDS_PATH@", crds_path)
spec = json.loads(text)
env = spec.get("env", {})
for key, value in list(env.items()):
    if "@REFDATA@" in value:
        if refdata:
            env[key] = value.replace("@REFDATA@", refdata)
        else:
            del env[key]
with open(dst, "w", encoding="utf-8") as out:
    json.dump(spec, out, indent=2)
    out.write("\n")
print(f"==> kernelspec {spec['display_name']!r} -> {dst}")
PY
  for logo in "$DIR"/logo-*.png; do [ -f "$logo" ] && cp "$logo" "$SPEC_ROOT/$NAME/"; done
fi
echo "==> $NAME ready in $PREFIX"
