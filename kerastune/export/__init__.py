"""Exports for TF Serving: versioned, atomic, string-in SavedModels."""

from kerastune.export.versioned_directory import atomic_version_directory, next_version

__all__ = ["atomic_version_directory", "next_version"]
