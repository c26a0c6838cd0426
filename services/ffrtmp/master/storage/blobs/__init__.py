"""Media bytes: the BlobStore interface and its backends (local directory, S3)."""
