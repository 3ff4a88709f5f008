# shellcheck shell=bash
# Sourced (a *.sh in before-notebook.d) by docker-stacks' start.sh just before it starts the
# lab server: the server, its kernels and terminals then create group-writable files and
# folders, so what a member makes inside /teams/<team> stays writable by the team. The team
# folder's own top level keeps the sticky bit: members still cannot delete each other's files
# there (docs/user-guide.md, "Team folders").
umask 0002
