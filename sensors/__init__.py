"""The built-in sensor library of asyncflow."""

__all__: list[str] = []
