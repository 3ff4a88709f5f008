"""The storage engine: a safe walker, the usage scanner, the purge planner and executor.

Everything here works on real files relative to directory file descriptors, never follows a
symbolic link, never leaves the file system of the root it was given, and handles any byte
string as a name (newlines, invalid UTF-8, leading dashes). Paths cross module boundaries as
``bytes``; manifests store them as base64. See docs/storage.md for the design and its safety
arguments.
"""
