"""kopf wiring. Importing this package registers every handler in kopf's default registry."""

from horizon_publisher.handlers import follow_images, publication, service_image

__all__ = ["follow_images", "publication", "service_image"]
