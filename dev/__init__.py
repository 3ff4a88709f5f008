"""`make dev`: the whole Roman Research Nexus platform on 127.0.0.1, supervised by one process.

`python -m dev.platform` (or `make dev`) starts the OIDC stand-in, moto's S3 server, the quota
service and JupyterHub; `dev.platform.Platform` does the same from Python (the e2e tests and
the sign-in benchmark use it). See docs/getting-started.md.
"""
