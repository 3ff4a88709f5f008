"""Personal, persistent environments for the Roman Research Nexus: kernel-create, kernel-list and
kernel-delete (docs/user-guide.md, "Persistent environments")."""
