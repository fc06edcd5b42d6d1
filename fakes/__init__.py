"""Loopback fakes of outside services, shared by tests/ and bench/ (not part of the image)."""
