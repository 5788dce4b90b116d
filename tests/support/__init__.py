"""Helpers the tests share: datasets, pixel samples, the app in-process, the real server, PostgreSQL, events."""
