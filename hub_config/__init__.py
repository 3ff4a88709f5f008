"""Hub-side configuration of the Roman Research Nexus.

One configuration for two places: a local `jupyterhub -f hub_config/jupyterhub_config.py`
with SimpleLocalProcessSpawner, and the z2jh hub image with KubeSpawner
(`from hub_config.z2jh import configure; configure(c)`).

The hub side talks to the quota service only over HTTP (`hub_config.quota_client`).
"""
