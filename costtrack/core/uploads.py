"""Upload limits: the first of ``FILE_UPLOAD_HANDLERS``.

Django hands every chunk of an uploaded file to each handler in turn; this one counts them and
stops the upload with 413 as soon as the total passes the limit, so a body whose
Content-Length lies (or is missing) is still never stored whole. The memory handler after it
keeps only files under ``FILE_UPLOAD_MAX_MEMORY_SIZE``; everything larger streams to a
temporary file.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler

MIB = 1024 * 1024


def describe_size(size: int) -> str:
    if size >= MIB:
        return f"{size / MIB:.1f} MB"
    return f"{size} bytes"


class UploadTooLarge(RequestDataTooBig):
    """An upload over its limit. A ``RequestDataTooBig``, so that wherever Django reads the body
    it is refused rather than crashing; the API answers it with 413 and this message."""

    def __init__(self, message: str, *, limit_bytes: int):
        super().__init__(message)
        self.message = message
        self.limit_bytes = limit_bytes


def upload_too_large(size: int, limit: int, *, what: str = "The upload") -> UploadTooLarge:
    return UploadTooLarge(
        f"{what} is {describe_size(size)}; this endpoint accepts at most {describe_size(limit)}.",
        limit_bytes=limit,
    )


def max_upload_bytes() -> int:
    """The largest body costtrack accepts anywhere: ``COSTTRACK_IMPORT_MAX_MB``."""
    return int(settings.COSTTRACK_IMPORT_MAX_MB * MIB)


class UploadLimitHandler(FileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.max_bytes = max_upload_bytes()
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.max_bytes:
            raise upload_too_large(content_length, self.max_bytes, what="The request body")

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            raise upload_too_large(self.received, self.max_bytes, what="The upload so far")
        return raw_data

    def file_complete(self, file_size):
        return None
