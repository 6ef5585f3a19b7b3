"""Serving a version: one answer from retrieved documents, held to the version's decoding schema (`kwanzaa-hub ask`)."""
