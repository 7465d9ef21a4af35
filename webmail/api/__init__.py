"""The REST API: a thin DRF layer over the same services and selectors as the webmail."""
