"""Persistence: the Store protocol and its backends, chosen by URL."""
