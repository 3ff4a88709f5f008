#!/usr/bin/env bash
# Install the tutorial notebooks read-only into DEST (used by `make kernels` and the user image).
#
#   notebooks/install-tutorials.sh DEST
#
# Users open them from there and save a copy to their home (File > Save Notebook As...).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
SRC=$(cd "$(dirname "$0")" && pwd)
DEST=$1
mkdir -p "$DEST"
chmod u+w "$DEST"
for nb in "$SRC"/*.ipynb; do
  name=$(basename "$nb")
  [ -e "$DEST/$name" ] && chmod u+w "$DEST/$name"
  cp "$nb" "$DEST/$name"
  chmod 0444 "$DEST/$name"
done
cp "$SRC/README.md" "$DEST/README.md" 2>/dev/null && chmod 0444 "$DEST/README.md" || true
chmod 0755 "$DEST"  # files are read-only; the folder belongs to the installer (root in the image)
echo "==> tutorials installed read-only in $DEST"
