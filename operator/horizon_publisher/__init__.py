"""Horizon Publisher: publish edge services to Open Horizon from two custom resources."""

__version__ = "0.1.0"

GROUP = "edge.horizon.dev"
VERSION = "v1alpha1"
