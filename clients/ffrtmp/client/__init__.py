"""The Python client for ffrtmp."""

from ffrtmp.client.client import Client

__all__ = ["Client"]
