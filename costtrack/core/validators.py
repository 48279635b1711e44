"""Validators for the loose JSON fields costtrack accepts (tags, metadata, links)."""

import json
from urllib.parse import urlparse

from django.core.exceptions import ValidationError

METADATA_MAX_BYTES = 16 * 1024
TAG_MAX_LENGTH = 256


def validate_tags(value) -> None:
    """Tags are a JSON object whose keys and values are non-empty strings (values may be empty)."""
    if not isinstance(value, dict):
        raise ValidationError("Tags must be a JSON object of strings.", code="invalid_tags")
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ValidationError("Tag keys must be non-empty strings.", code="invalid_tags")
        if not isinstance(item, str):
            raise ValidationError(
                f"Tag '{key}' must have a string value, not {type(item).__name__}.",
                code="invalid_tags",
            )
        if len(key) > TAG_MAX_LENGTH or len(item) > TAG_MAX_LENGTH:
            raise ValidationError(
                f"Tag keys and values are at most {TAG_MAX_LENGTH} characters.",
                code="invalid_tags",
            )


def validate_metadata(value) -> None:
    """Metadata is a JSON object of at most 16 KiB once serialised."""
    if not isinstance(value, dict):
        raise ValidationError("Metadata must be a JSON object.", code="invalid_metadata")
    size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
    if size > METADATA_MAX_BYTES:
        raise ValidationError(
            f"Metadata is {size} bytes; the limit is {METADATA_MAX_BYTES} bytes.",
            code="metadata_too_large",
        )


def validate_http_url(value: str) -> None:
    """Only http and https links are stored (no javascript:, data:, ftp: ...)."""
    if not value:
        return
    parsed = urlparse(value)
    if parsed.scheme.lower() not in {"http", "https"} or not parsed.netloc:
        raise ValidationError("Enter an http:// or https:// URL.", code="invalid_url")


def parse_tag_filter(raw: str) -> tuple[str, str]:
    """Parse ``key:value`` (the value may itself contain colons)."""
    key, sep, value = raw.partition(":")
    if not sep or not key:
        raise ValidationError(f"'{raw}' is not of the form key:value.", code="invalid_tag_filter")
    return key, value
