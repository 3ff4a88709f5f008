#!/usr/bin/env bash
# Link the read-only tutorials into the user's home as ~/tutorials (a docker-stacks
# before-notebook.d hook in the user image; `make dev` can run it for each local home).
#   NEXUS_TUTORIALS_DIR  where install-tutorials.sh put them (default /opt/nexus/tutorials)
set -eu
src=${NEXUS_TUTORIALS_DIR:-/opt/nexus/tutorials}
home=${1:-$HOME}
if [ -d "$src" ] && [ ! -e "$home/tutorials" ]; then
  ln -s "$src" "$home/tutorials"
fi
