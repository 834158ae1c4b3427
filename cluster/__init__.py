"""A real Kubernetes cluster on this machine without Docker: see ``python -m local_cluster``."""
