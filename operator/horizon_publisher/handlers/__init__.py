"""kopf wiring. Importing this package registers every handler in kopf's default registry."""

from horizon_publisher.handlers import publication, service_image

__all__ = ["publication", "service_image"]
